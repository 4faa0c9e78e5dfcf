"""prime_rs: find and explain the failure modes of image classifiers, the PRIME way.

>>> import prime_rs
>>> from prime_rs import synthetic
>>> modes = prime_rs.find_failure_modes(synthetic.generate(synthetic.SMALL).samples, max_tags=3)
>>> list(modes.columns)
['label', 'tags', 'n_tags', 'support', 'accuracy', 'class_accuracy', 'drop', 'necessity']
"""

from prime_rs._engine import __version__, build_profile
from prime_rs.data import load_samples, read_table, write_table
from prime_rs.errors import InputError, ParameterError, PrimeError, SearchCancelled
from prime_rs.search import MODE_COLUMNS, TagIndex, find_failure_modes

__all__ = [
    "MODE_COLUMNS",
    "InputError",
    "ParameterError",
    "PrimeError",
    "SearchCancelled",
    "TagIndex",
    "__version__",
    "build_profile",
    "find_failure_modes",
    "load_samples",
    "read_table",
    "write_table",
]
