"""What every ``prime`` command shares: the error type, option parsers and output checks.

Only the command line imports this module; the library never does.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from prime_rs.errors import PrimeError, SearchCancelled
from prime_rs.io import output_format

__all__ = [
    "CONTEXT",
    "TOP",
    "CliError",
    "PrimeGroup",
    "captured_log",
    "check_output",
    "fraction_option",
    "fractions_option",
    "parse_fraction",
    "pct_short",
    "ray_options",
    "split_names",
    "take_ray",
]

#: Settings of every command: ``-h`` as well as ``--help``, and help text up to 100 columns.
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
TOP = 10  # strongest modes shown in a summary


class CliError(click.ClickException):
    """Bad input or parameters: a one-paragraph message on stderr and exit status 2."""

    exit_code = 2


class PrimeGroup(click.Group):
    """Turns library errors and Ctrl-C into clean exits for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, SearchCancelled):
            click.echo("Interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except PrimeError as e:
            raise CliError(str(e)) from None


def parse_fraction(text: str) -> float:
    """``"0.3"`` -> 0.3, ``"30%"`` -> 0.3; raises ValueError for anything else.

    >>> parse_fraction("30%"), parse_fraction(" 0.25 ")
    (0.3, 0.25)
    """
    t = text.strip()
    if t.endswith("%"):
        return float(t[:-1].strip()) / 100.0
    return float(t)


def fraction_option(ctx: click.Context, param: click.Parameter, value: str | float | None) -> Any:
    """A fraction written as ``0.3`` or ``30%`` (``None`` stays ``None``); the range is the
    library's to check."""
    if value is None or isinstance(value, float):
        return value
    try:
        return parse_fraction(str(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a fraction; write it as 0.3 or 30%", ctx, param
        ) from None


def fractions_option(
    ctx: click.Context, param: click.Parameter, value: str | tuple[float, ...] | None
) -> Any:
    """Fractions separated by commas, e.g. ``0.10,0.05,0.025`` or ``10%,5%``."""
    if value is None or isinstance(value, tuple):
        return value
    text = value.strip()
    if not text:
        return ()  # the library says why an empty list cannot work
    out = []
    for i, part in enumerate(text.split(","), start=1):
        try:
            out.append(parse_fraction(part))
        except ValueError:
            what = "is empty" if not part.strip() else f"{part.strip()!r} is not a fraction"
            raise click.BadParameter(
                f"value {i} of {text!r} {what}; write fractions separated by commas, "
                "e.g. 0.10,0.05,0.025 or 10%,5%,2.5%",
                ctx,
                param,
            ) from None
    return tuple(out)


def pct_short(x: float) -> str:
    """``0.3`` -> ``"30%"``.

    >>> pct_short(0.025)
    '2.5%'
    """
    return f"{x * 100:g}%"


def check_output(output: str | None, example: str = "modes.parquet") -> None:
    """Fail before a long job, not after it, when the output cannot be written."""
    if output is None:
        return
    if Path(output).is_dir():
        raise CliError(f"{output}: is a folder; give a file name such as {example}")
    output_format(output)


@contextmanager
def captured_log() -> Iterator[list[logging.LogRecord]]:
    """Collect what the library logs on ``prime_rs`` instead of letting it print."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("prime_rs")
    handler = _Keep()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def split_names(
    values: Sequence[str], option: str, what: str = "", whole: Collection[str] = ()
) -> list[str] | None:
    """Names given to an option such as ``--labels``: each value is a comma-separated list
    (quote a name that holds a comma: ``--labels '"a, b",c'``), and the option may repeat.

    >>> split_names(['cat,"big, dog"', "fox"], "--labels")
    ['cat', 'big, dog', 'fox']
    >>> split_names([], "--labels") is None
    True
    >>> split_names(["fox, red"], "--labels", whole={"fox, red"})  # a known name as a whole
    ['fox, red']
    """
    if not values:
        return None
    names: list[str] = []
    for value in values:
        if value in whole:
            names.append(value)
            continue
        try:
            row = next(csv.reader([value], skipinitialspace=True), [])
        except csv.Error as e:
            raise CliError(f'{option}: cannot read {value!r} ({e}); quote names with "') from None
        parts = [x.strip() for x in row]
        if not parts or not all(parts):
            raise CliError(
                f"{option}: {value!r} has an empty {what}name; separate names with commas, e.g. "
                f'cat,dog, quote a name that holds a comma ("big, dog"), or repeat {option}'
            )
        names.extend(parts)
    return names


def ray_options(f: Any) -> Any:
    """``--ray`` and ``--ray-address``: run the command's work on a Ray cluster.

    The command receives them as ``ray`` and ``ray_address``; :func:`take_ray` turns the two
    into the library's ``ray=`` argument.
    """
    f = click.option(
        "--ray-address",
        metavar="ADDRESS",
        default=None,
        help="Run on the Ray cluster at ADDRESS ('auto', 'ray://host:10001'); implies --ray.",
    )(f)
    return click.option(
        "--ray",
        "ray",
        is_flag=True,
        help="Run on a Ray cluster: the one RAY_ADDRESS names, else a local one "
        "(needs prime_rs[ray]).",
    )(f)


def take_ray(kwargs: dict[str, Any]) -> bool | str | None:
    """Pop ``ray`` and ``ray_address`` from a command's keywords: the library's ``ray=``.

    >>> take_ray({"ray": False, "ray_address": None}), take_ray({"ray": True, "ray_address": None})
    (None, True)
    >>> take_ray({"ray": False, "ray_address": "auto"})
    'auto'
    """
    flag = kwargs.pop("ray", False)
    address = kwargs.pop("ray_address", None)
    if address is not None:
        if not address.strip():
            raise CliError("--ray-address needs an address, such as 'auto' or 'ray://host:10001'")
        return str(address)
    return True if flag else None
