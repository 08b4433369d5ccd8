"""Imports of the optional dependencies, which fail with the extra to install."""

import importlib

# The extra of pyproject.toml that installs each optional package.
EXTRAS = {
    "torchjd": "jd",
    "torchvision": "datasets",
    "pandas": "datasets",
    "matplotlib": "plot",
    "tqdm": "study",
}


def import_optional(name, who, extra=None):
    """Import a module of an optional dependency, or say how to install it.

    Parameters
    ----------
    name : str
        The module, e.g. ``"torchjd.autojac"``; its top-level package is the
        dependency.

    who : str
        What needs it, for the error message, e.g. ``"GradientAggregation"``.

    extra : str, default=None
        The extra of skmtl that installs it; None looks it up in :data:`EXTRAS`.

    Returns
    -------
    module : module
        The imported module.

    Raises
    ------
    ImportError
        If the module cannot be imported, naming the package and the extra.
    """
    package = name.partition(".")[0]
    extra = extra or EXTRAS[package]
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{who} needs {package}: pip install 'skmtl[{extra}]' (or install "
            f"{package} yourself). Importing {name} failed: {err}"
        ) from err
