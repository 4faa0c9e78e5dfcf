"""The optional ``vision`` extra: one place that imports torch and says how to install it.

Nothing in :mod:`prime_rs` imports torch at import time; every function that needs it calls
:func:`require_vision` first, so a missing package is a :class:`MissingDependency` (a
:class:`~prime_rs.PrimeError`: the CLI prints it and exits with status 2), not a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from prime_rs.errors import MissingDependency

__all__ = ["INSTALL_HINT", "MissingDependency", "require", "require_vision"]

#: How to install what the vision commands need.
INSTALL_HINT = "pip install 'prime_rs[vision]'"

_VISION = ("torch", "torchvision", "PIL")


def require(module: str, *, feature: str, hint: str = INSTALL_HINT) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``feature`` and ``hint``.

    Examples
    --------
    >>> require("json", feature="reading JSON").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = getattr(e, "name", None) or module
        raise MissingDependency(
            f"{feature} needs the Python package {missing!r}, which is not installed; "
            f"install it with: {hint}"
        ) from None


def require_vision(feature: str = "this command") -> None:
    """Check that torch, torchvision and Pillow can be imported.

    Raises
    ------
    MissingDependency
        One of them is missing; the message says ``pip install 'prime_rs[vision]'``.

    Examples
    --------
    >>> require_vision("tagging images")  # quiet when the extra is installed
    """
    for name in _VISION:
        require(name, feature=feature)
