"""Plain-text formatting shared by the command-line modules (numbers, tables, tag lists)."""

from __future__ import annotations

from collections.abc import Sequence

import click

__all__ = ["count", "echo_lines", "join_tags", "pct", "plural", "table"]


def count(n: int) -> str:
    """``1234`` -> ``"1,234"``.

    >>> count(88400)
    '88,400'
    """
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1.

    >>> plural(1, "class"), plural(2, "class"), plural(3, "mode")
    ('1 class', '2 classes', '3 modes')
    """
    many = word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{count(n)} {word if n == 1 else many}"


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage; ``-`` for a missing value.

    >>> pct(0.8567), pct(None)
    ('85.7%', '-')
    """
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def join_tags(tags: Sequence[str], width: int) -> str:
    """Tags joined with `` + ``, cut to ``width`` characters.

    >>> join_tags(["snow", "night"], 60)
    'snow + night'
    """
    text = " + ".join(tags)
    return text if len(text) <= width else text[: width - 3] + "..."


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned text columns: the first ``left`` columns to the left, the others right.

    >>> table(["class", "n"], [["fox", "12"]])
    ['  class   n', '  fox    12']
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def echo_lines(lines: Sequence[str]) -> None:
    """Print each line to standard output."""
    for line in lines:
        click.echo(line)
