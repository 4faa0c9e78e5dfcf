"""Find the fenced code blocks of README.md and docs/*.md, and say what each one asks to run.

The rules (docs/development.md, "Documentation", tells writers the same):

- ```` ```python ```` blocks are plain scripts. The blocks of one page run in order in one
  namespace, in one working folder, so a block may use what an earlier block of its page made.
- ```` ```pycon ```` blocks are doctests (``>>>`` prompts, output checked), in that same
  namespace.
- ```` ```bash ```` / ```` ```sh ```` blocks hold command lines. ``prime ...`` and
  ``python -m prime_rs ...`` run, in the page's folder, and must exit with status 0;
  ``make``, ``pip``, ``git`` and ``cargo`` lines are shown, not run. Anything else fails.
- ```` ```console ```` blocks are ``$ prime ...`` lines followed by the output they print;
  the command runs and its output must match (timings, thread counts and file sizes are
  masked, and ``...`` in the expected output stands for anything).
- ```` ```text ```` blocks are displayed output or layouts: nothing to run.
- A block in any other language, or without one, fails the test.

A comment on the line before a block changes how it is checked; it needs a reason:

- ``<!-- docs-test: parse-only (why) -->``: the block needs what a test machine cannot have
  (model weights, a GPU). Command lines are parsed by their click command without running
  (every option and value must be accepted); a Python block is compiled and only its
  ``import`` statements run.
- ``<!-- docs-test: skip (why) -->``: not checked at all; counted and listed in the summary.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Languages a block may have, and what is done with them.
KINDS = {
    "python": "python",
    "pycon": "pycon",
    "bash": "shell",
    "sh": "shell",
    "console": "console",
    "text": "text",
}
MODES = ("run", "parse-only", "skip")
#: What the summary reports: (page:line, mode, reason) of every block not run in full.
NOT_RUN: list[tuple[str, str, str]] = []
#: Tools whose lines a shell block may show without the test running them.
SHOWN_TOOLS = ("make", "pip", "git", "cargo", "pytest")
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>", "2>&1"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_MARKER = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?P<mode>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$"
)


def pages() -> list[Path]:
    """README.md, then every page of docs/, sorted."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def where(path: Path, line: int) -> str:
    """``docs/cli.md:12``: how a failure names a block."""
    return f"{path.relative_to(ROOT).as_posix()}:{line}"


@dataclass
class Block:
    """A fenced block: its page, the line of its opening fence, language, text and mode."""

    path: Path
    line: int
    language: str
    text: str
    mode: str = "run"
    reason: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        return KINDS.get(self.language)

    @property
    def where(self) -> str:
        return where(self.path, self.line)


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one page, with their markers; malformed ones carry problems."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence[0] * len(fence))
            and set(lines[i].strip()) == {fence[0]}
        ):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        block = Block(path, start + 1, info.split()[0] if info else "", "\n".join(body) + "\n")
        if block.kind is None:
            block.problems.append(
                f"a block in language {block.language or '(none)'!r}, which the docs test does "
                f"not understand; use one of {', '.join(KINDS)} (see docs/development.md)"
            )
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = _MARKER.match(lines[j]) if j >= 0 else None
        if marker:
            block.mode = marker["mode"]
            block.reason = (marker["reason"] or "").strip() or None
            if block.mode not in MODES[1:]:
                block.problems.append(f"unknown docs-test marker {block.mode!r}")
            elif not block.reason:
                block.problems.append(f"the docs-test marker {block.mode!r} needs a reason: (why)")
        elif j >= 0 and "docs-test" in lines[j]:
            block.problems.append(f"malformed docs-test marker: {lines[j].strip()}")
        found.append(block)
    return found


def all_blocks() -> list[Block]:
    return [b for p in pages() for b in blocks(p)]


@dataclass
class Command:
    """One command line of a shell or console block (continuations joined)."""

    line: int  # line in the page
    argv: list[str]
    expected: str | None = None  # console blocks: the output shown under the command

    @property
    def tool(self) -> str:
        return self.argv[0]

    @property
    def prime_args(self) -> list[str] | None:
        """The arguments after ``prime`` / ``python -m prime_rs``; None for other tools."""
        if self.argv[0] == "prime":
            return self.argv[1:]
        if self.argv[:3] == ["python", "-m", "prime_rs"]:
            return self.argv[3:]
        return None


def commands(block: Block) -> list[Command]:
    """The command lines of a shell or console block; raises ValueError for a line it cannot
    check (naming the page and line)."""
    raw = block.text.splitlines()
    out: list[Command] = []
    i = 0
    while i < len(raw):
        first = i
        text = raw[i]
        if block.kind == "console":
            if not text.strip():
                i += 1
                continue
            if not text.startswith("$ "):
                raise ValueError(
                    f"{where(block.path, block.line + 1 + i)}: a console block starts each "
                    f"command with '$ '; found output before any command: {text!r}"
                )
            text = text[2:]
        while text.rstrip().endswith("\\") and i + 1 < len(raw):
            i += 1
            text = text.rstrip()[:-1] + " " + raw[i].strip()
        i += 1
        expected = None
        if block.kind == "console":
            shown = []
            while i < len(raw) and not raw[i].startswith("$ "):
                shown.append(raw[i])
                i += 1
            expected = "\n".join(shown).strip("\n") + "\n"
        lineno = block.line + 1 + first
        try:
            argv = shlex.split(text, comments=True)
        except ValueError as e:
            raise ValueError(f"{where(block.path, lineno)}: cannot split {text!r}: {e}") from e
        if not argv:
            continue
        bad = [t for t in argv if t in _SHELL_OPERATORS]
        if bad:
            raise ValueError(
                f"{where(block.path, lineno)}: shell operator {bad[0]!r} in {text.strip()!r}; "
                "the docs test runs plain commands only"
            )
        cmd = Command(lineno, argv, expected)
        if cmd.prime_args is None and cmd.tool not in SHOWN_TOOLS:
            raise ValueError(
                f"{where(block.path, lineno)}: {text.strip()!r}: the docs test runs prime and "
                f"python -m prime_rs lines and shows {', '.join(SHOWN_TOOLS)} lines; "
                "it does not understand this one"
            )
        if expected is not None and cmd.prime_args is None:
            raise ValueError(f"{where(block.path, lineno)}: a console block runs prime lines only")
        out.append(cmd)
    return out
