"""Where the data sets live."""

import os
from pathlib import Path

from sklearn.utils import Bunch

from .._optional import import_optional


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


def loader_result(
    data, target, feature_names, target_names, *, as_frame, return_X_y, **attributes
):
    """What a loader returns, as scikit-learn's loaders do.

    With ``as_frame``, ``data`` and ``target`` become the columns of one pandas
    DataFrame, ``frame``. With ``return_X_y``, the pair ``(data, target)``;
    else a :class:`~sklearn.utils.Bunch` of ``data``, ``target``, ``frame``
    (``None`` without ``as_frame``), ``feature_names``, ``target_names`` and
    the given ``attributes``.
    """
    frame = None
    if as_frame:
        pd = import_optional("pandas", "as_frame=True")
        frame = pd.concat(
            [
                pd.DataFrame(data, columns=feature_names, copy=False),
                pd.DataFrame(target, columns=target_names, copy=False),
            ],
            axis=1,
        )
        data, target = frame[list(feature_names)], frame[list(target_names)]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(feature_names),
        target_names=list(target_names),
        **attributes,
    )
