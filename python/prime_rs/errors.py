"""Exceptions raised by prime_rs.

Every exception derives from :class:`PrimeError`; mistakes in the caller's input also derive
from :class:`ValueError`, so ``except ValueError`` keeps working for code that expects it.
"""

from __future__ import annotations

__all__ = ["InputError", "MissingDependency", "ParameterError", "PrimeError", "SearchCancelled"]


class PrimeError(Exception):
    """Base class of every prime_rs error."""


class InputError(PrimeError, ValueError):
    """A samples table, file or label/tag name that cannot be used as given.

    The message says what is wrong, where (file, column, rows) and how to fix it.
    """


class ParameterError(PrimeError, ValueError):
    """A search parameter outside its valid range."""


class SearchCancelled(PrimeError):
    """The search was stopped before it finished."""


class MissingDependency(PrimeError, ImportError):
    """A package the requested feature needs is not installed; the message says how to get it."""
