"""Where the data sets live."""

import os
from pathlib import Path


def get_data_home(data_home=None):
    """Return the folder that holds skmtl's data sets.

    The folder is, in this order: ``data_home`` if given, else the environment
    variable ``SKMTL_DATA`` if set, else ``~/skmtl_data``. A leading ``~`` is
    expanded. Unlike scikit-learn's :func:`~sklearn.datasets.get_data_home`, the
    folder is not created, since it may be read-only.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data folder. If None, use ``SKMTL_DATA`` or ``~/skmtl_data``.

    Returns
    -------
    data_home : pathlib.Path
        The data folder, which may not exist.

    Examples
    --------
    >>> from skmtl.datasets import get_data_home
    >>> get_data_home("my_data").name
    'my_data'
    """
    if data_home is None:
        data_home = os.environ.get("SKMTL_DATA") or Path("~", "skmtl_data")
    return Path(data_home).expanduser()
