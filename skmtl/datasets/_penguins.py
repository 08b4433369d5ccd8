"""Palmer penguins as a three-task problem: species, island and sex."""

import csv
from importlib import resources

import numpy as np

from .._optional import import_optional
from ._base import loader_result

FEATURE_NAMES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]
TARGET_NAMES = ["species", "island", "sex"]
# The file of the palmerpenguins package, as it is (344 rows, "NA" for missing).
_FILE = "penguins.csv"

DESCR = """\
.. _penguins_dataset:

Palmer penguins, with three tasks
---------------------------------

**Data Set Characteristics:**

    :Number of Instances: 342 (of the 344 penguins, the 2 without measurements
        are left out)
    :Number of Attributes: 4 numeric measurements
    :Targets: 3 tasks, ``species`` (3 classes), ``island`` (3 classes) and
        ``sex`` (2 classes; missing for 9 penguins, as NaN)
    :Creator: Kristen B. Gorman and the Palmer Station Long Term Ecological
        Research (LTER) Program; packaged by Allison M. Horst, Alison P. Hill
        and Kristen B. Gorman
    :License: CC0 1.0 (public domain), under the Palmer Station LTER Data
        Policy
    :Date: 2007-2009 (the field seasons); the palmerpenguins package, 2020

Size measurements of adult Adelie, Chinstrap and Gentoo penguins foraging near
Palmer Station, Antarctica, on three islands of the Palmer Archipelago, from
2007 to 2009. The features, one column each, in this order:

- ``bill_length_mm``, ``bill_depth_mm``: the bill's (culmen's) length and depth;
- ``flipper_length_mm``: the flipper's length;
- ``body_mass_g``: the body mass, in grams.

skmtl gives each penguin three targets, one per task, as strings:

- ``species`` (column 0): Adelie (151), Chinstrap (68), Gentoo (123);
- ``island`` (column 1): Biscoe (167), Dream (124), Torgersen (51). Chinstraps
  live on Dream only and Gentoos on Biscoe only, while Adelies live on all
  three: the measurements tell the island of an Adelie poorly;
- ``sex`` (column 2): female (165), male (168), and NaN for the 9 penguins
  whose sex was not recorded. These rows are kept, as partial labels: fit
  with ``missing_label=np.nan``, or drop them.

The two penguins without any measurement are left out, as their features would
be missing. The file's ``year`` column is not a feature here. The three tasks
are related: sex is told by size given the species (the dimorphism differs
between species), and the island by the species.

The file is ``penguins.csv`` of the palmerpenguins package (version 0.1.6 on
PyPI, the same data as the R package's), unchanged.

.. rubric:: References

- Kristen B. Gorman, Tony D. Williams and William R. Fraser (2014). Ecological
  sexual dimorphism and environmental variability within a community of
  Antarctic penguins (genus Pygoscelis). PLoS ONE 9(3): e90081.
  https://doi.org/10.1371/journal.pone.0090081
- Allison M. Horst, Alison P. Hill and Kristen B. Gorman (2020).
  palmerpenguins: Palmer Archipelago (Antarctica) penguin data. R package
  version 0.1.0. https://doi.org/10.5281/zenodo.3960218
"""


def load_penguins(*, return_X_y=False, as_frame=False):
    """Load Palmer penguins with three targets: species, island and sex.

    342 penguins, 4 measurements each, and 3 related classification tasks: a
    small real multi-task data set, shipped with skmtl (no download). The sex
    of 9 penguins is missing, as NaN: fit with ``missing_label=np.nan`` to
    train on them through the other tasks. ``as_frame=True`` needs pandas, an
    optional dependency: ``pip install 'skmtl[datasets]'``.

    Read more in the ``DESCR`` of the returned Bunch.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, the data is a pandas DataFrame with one float64 column per
        measurement, and the target a DataFrame with one string column per
        task, ``species``, ``island`` and ``sex``, so that estimators and
        :func:`~skmtl.metrics.task_scorer` know the tasks by name. The Bunch
        also gets ``frame``, both side by side.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (342, 4)
            The measurements, float64.
        target : {ndarray, DataFrame} of shape (342, 3)
            The labels of the tasks, as strings (an object array); ``sex`` is
            NaN for the 9 penguins whose sex is unknown.
        frame : DataFrame of shape (342, 7)
            Only with ``as_frame=True``: the data, then the target.
        feature_names : list of str
            The names of the measurements.
        target_names : list of str
            The names of the tasks: ``["species", "island", "sex"]``.
        target_classes : dict of str to list of str
            The classes of each task, sorted.
        DESCR : str
            The description of the data set, with its sources and licence.

    (data, target) : tuple if ``return_X_y`` is True
        The arrays, or DataFrames, described above.

    Raises
    ------
    ImportError
        If pandas is not installed and ``as_frame=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.datasets import load_penguins
    >>> penguins = load_penguins()
    >>> penguins.data.shape, penguins.target.shape
    ((342, 4), (342, 3))
    >>> penguins.target_names
    ['species', 'island', 'sex']
    >>> penguins.target[0]
    array(['Adelie', 'Torgersen', 'male'], dtype=object)
    >>> int(sum(label is np.nan for label in penguins.target[:, 2]))
    9
    """
    if as_frame:
        # Before reading anything: the error names the loader.
        import_optional("pandas", "load_penguins(as_frame=True)")
    data, target = _read()
    classes = {
        name: sorted({label for label in column if isinstance(label, str)})
        for name, column in zip(TARGET_NAMES, target.T)
    }
    return loader_result(
        data,
        target,
        FEATURE_NAMES,
        TARGET_NAMES,
        as_frame=as_frame,
        return_X_y=return_X_y,
        target_classes=classes,
        DESCR=DESCR,
    )


def _read():
    """The measurements and labels of the penguins that have measurements."""
    text = resources.files(__package__).joinpath("data", _FILE).read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    # "NA" is R's missing value, which the file was written with.
    rows = [r for r in rows if all(r[name] != "NA" for name in FEATURE_NAMES)]
    data = np.array([[float(r[name]) for name in FEATURE_NAMES] for r in rows])
    target = np.array(
        [
            [np.nan if r[name] == "NA" else r[name] for name in TARGET_NAMES]
            for r in rows
        ],
        dtype=object,
    )
    return data, target
