"""The optional ``ray`` extra: the one place that imports Ray, gives its hint and joins a cluster.

Nothing in :mod:`prime_rs` imports Ray at import time. The distributed jobs (tagging and
prediction in :mod:`prime_rs.vision`, the search in :mod:`prime_rs.distributed`) take a
``ray=`` argument, hand it to :func:`connect`, and run inside it:

- ``ray=None`` or ``False``: no Ray, the local code path;
- ``ray=True``: join the cluster named by the ``RAY_ADDRESS`` environment variable when it is
  set, else start a local one (stopped again when the job ends);
- ``ray="ADDRESS"``: join that cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``).

When Ray is already initialised in this process (a notebook that called ``ray.init()``, a
test that started a cluster), :func:`connect` uses it as it is and leaves it running.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from prime_rs.errors import MissingDependency, ParameterError

__all__ = ["INSTALL_HINT", "RayOption", "connect", "require_ray", "wanted"]

#: How to install what the ``--ray`` options need.
INSTALL_HINT = "pip install 'prime_rs[ray]'"

#: What a ``ray=`` argument may be: off (``None``/``False``), on (``True``) or an address.
RayOption = bool | str | None


def require_ray(feature: str = "running on a Ray cluster") -> ModuleType:
    """Import and return :mod:`ray`, or raise :class:`~prime_rs.MissingDependency` with the hint.

    Ray Data (``ray.data``) is imported too, so a Ray without the ``data`` extra is caught here.

    Examples
    --------
    >>> require_ray().__name__
    'ray'
    """
    try:
        ray = importlib.import_module("ray")
        importlib.import_module("ray.data")
    except ImportError as e:
        missing = getattr(e, "name", None) or "ray"
        raise MissingDependency(
            f"{feature} needs the Python package {missing!r}, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return ray


def wanted(ray: RayOption) -> bool:
    """Whether a ``ray=`` argument asks for Ray (``True`` or a non-empty address).

    Examples
    --------
    >>> [wanted(x) for x in (None, False, True, "auto")]
    [False, False, True, True]
    """
    if ray is None or ray is False:
        return False
    if ray is True:
        return True
    if isinstance(ray, str) and ray.strip():
        return True
    raise ParameterError(
        f"ray must be True, False, None or a cluster address such as 'auto' or "
        f"'ray://host:10001', not {ray!r}"
    )


@contextmanager
def connect(ray: RayOption = True) -> Iterator[ModuleType]:
    """Run the body connected to a Ray cluster; yields the :mod:`ray` module.

    Joins the cluster ``ray`` names (see the module's docstring), or uses the one this
    process is already connected to. A cluster this call started (a local one) is shut down
    when the body ends, however it ends; one it joined is left running.

    Raises
    ------
    MissingDependency
        Ray is not installed; the message says ``pip install 'prime_rs[ray]'``.
    ParameterError
        ``ray`` is neither a flag nor an address.
    """
    if not wanted(ray):
        raise ParameterError("connect() needs ray=True or a cluster address")
    mod = require_ray()
    if mod.is_initialized():
        yield mod
        return
    address = ray if isinstance(ray, str) else os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, object] = {"logging_level": "WARNING", "log_to_driver": False}
    if address == "local":
        # A new cluster of this machine's own, without a dashboard ("local": not whichever
        # cluster happens to be running here, which a bare ray.init() would join).
        kwargs.update(include_dashboard=False)
    mod.init(address=address, **kwargs)
    try:
        yield mod
    finally:
        mod.shutdown()
