"""prime_rs: find and explain the failure modes of image classifiers, the PRIME way.

>>> import prime_rs
>>> from prime_rs import synthetic
>>> modes = prime_rs.find_failure_modes(synthetic.generate(synthetic.SMALL).samples, max_tags=3)
>>> list(modes.columns[:8])
['label', 'tags', 'n_tags', 'support', 'accuracy', 'class_accuracy', 'drop', 'necessity']
"""

from typing import TYPE_CHECKING, Any

from prime_rs._engine import __version__, build_profile
from prime_rs.errors import InputError, ParameterError, PrimeError, SearchCancelled
from prime_rs.index import (
    CONFUSION_COLUMNS,
    MODE_COLUMNS,
    TRUST_COLUMNS,
    SearchResult,
    TagIndex,
)
from prime_rs.io import load_samples, read_table, write_table
from prime_rs.noise import noise_control
from prime_rs.params import DEFAULT_NECESSITY, SearchParams
from prime_rs.search import find_failure_modes
from prime_rs.stats import wilson_interval

if TYPE_CHECKING:
    from prime_rs.pipeline import demo as demo
    from prime_rs.pipeline import run as run

__all__ = [
    "CONFUSION_COLUMNS",
    "DEFAULT_NECESSITY",
    "MODE_COLUMNS",
    "TRUST_COLUMNS",
    "InputError",
    "ParameterError",
    "PrimeError",
    "SearchCancelled",
    "SearchParams",
    "SearchResult",
    "TagIndex",
    "__version__",
    "build_profile",
    "demo",
    "find_failure_modes",
    "load_samples",
    "noise_control",
    "read_table",
    "run",
    "wilson_interval",
    "write_table",
]


def __getattr__(name: str) -> Any:
    """Whole jobs (:mod:`prime_rs.pipeline`) load on first use: they pull in the evaluation,
    report and vision layers, which a plain search does not need."""
    if name in {"demo", "run"}:
        import prime_rs.pipeline as pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'prime_rs' has no attribute {name!r}")
