"""The ``prime`` command line: a thin layer over the library.

Each command parses its options, calls library functions and prints what they return; the
method itself lives in the library, where the tests call it directly. Nothing in the library
imports this package.

Bad input (a :class:`prime_rs.PrimeError`, or a usage error click detects) ends the command
with a one-paragraph message on stderr and exit status 2; Ctrl-C prints ``Interrupted`` and
exits with 130.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from prime_rs._engine import __version__, build_profile
from prime_rs.cli._options import CONTEXT, PrimeGroup
from prime_rs.cli.demo import demo
from prime_rs.cli.evaluate import evaluate, inspect
from prime_rs.cli.report import report
from prime_rs.cli.search import search
from prime_rs.cli.vision import predict, retag, run, tag

__all__ = ["cli", "main"]


@click.group(cls=PrimeGroup, context_settings=CONTEXT)
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="prime",
    message=f"%(prog)s %(version)s (prime_rs engine, {build_profile} build)",
)
def cli() -> None:
    """Find the failure modes of an image classifier, the PRIME way.

    A failure mode is a small set of tags (concepts seen in the images, such as "snow" +
    "night") whose samples the classifier gets much more often wrong than the rest of
    their class. The input is a samples table (Parquet, CSV or JSON lines) with the
    columns id, label, tags, and prediction or correct.

    \b
    Examples:
      prime demo                                   # a real classifier on Fashion-MNIST
      prime search samples.parquet -o modes.parquet
      prime search samples.csv --min-drop 25% --max-tags 3 -o modes.csv
    """


for _command in (search, demo, evaluate, inspect, tag, predict, retag, run, report):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None, prog_name: str = "prime") -> int:
    """Run the ``prime`` command line and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name (default: ``sys.argv[1:]``).
    prog_name
        The name shown in usage and help texts.

    Returns
    -------
    int
        0 on success, 2 for bad input or parameters, 130 after Ctrl-C.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    prime ... build)
    0
    """
    try:
        cli.main(args=None if argv is None else list(argv), prog_name=prog_name)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        click.echo(str(e.code), err=True)
        return 1
    return 0
