"""Every code block of README.md and docs/*.md runs (or, where it cannot, is parsed).

The rules are in docs_blocks.py and docs/development.md. A failure names the page and line
of the block, and the command or statement that failed.
"""

from __future__ import annotations

import ast
import doctest
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from docs_blocks import NOT_RUN, ROOT, Block, Command, blocks, commands, pages, where

PAGES = pages()
_VISION_COMMANDS = {("tag",), ("predict",), ("run",)} | {
    ("evaluate", c) for c in ("quality", "compare", "embed")
}


def _page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _cost(path: Path) -> set[str]:
    """``vision`` when running the page's blocks runs a model (torch), ``slow`` when that or
    anything else takes more than a few seconds."""
    cost: set[str] = set()
    for block in blocks(path):
        if block.mode != "run" or block.problems:
            continue
        if block.kind in ("python", "pycon") and "prime_rs.vision" in block.text:
            return {"vision", "slow"}
        if block.kind in ("shell", "console"):
            try:
                cmds = commands(block)
            except ValueError:
                continue
            for cmd in cmds:
                args = tuple(cmd.prime_args or ())
                if args[:1] in _VISION_COMMANDS or args[:2] in _VISION_COMMANDS:
                    return {"vision", "slow"}
                if args[:1] == ("demo",) and "--synthetic" in args:
                    cost.add("slow")
    return cost


def _page_params() -> list:
    params = []
    for path in PAGES:
        marks = [getattr(pytest.mark, name) for name in sorted(_cost(path))]
        params.append(pytest.param(path, id=_page_id(path), marks=marks))
    return params


# -- what the blocks are ---------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_blocks_are_understood(path: Path) -> None:
    """Every block has a known language, a well-formed marker, and lines the test can run."""
    problems = []
    for block in blocks(path):
        problems += [f"{block.where}: {p}" for p in block.problems]
        if block.kind in ("shell", "console") and not block.problems:
            try:
                commands(block)
            except ValueError as e:
                problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_every_page_has_checked_code() -> None:
    """The collector finds the blocks: a broken fence pattern would make the test vacuous."""
    every = [b for p in PAGES for b in blocks(p)]
    run = [b for b in every if b.mode == "run" and b.kind in ("python", "pycon", "shell")]
    assert len(run) >= 20, f"only {len(run)} runnable blocks found"
    kinds = {b.kind for b in every}
    assert {"python", "pycon", "shell", "console", "text"} <= kinds, kinds


# -- parsing command lines ---------------------------------------------------------------


def _missing_path(message: str) -> str | None:
    m = re.search(r"'([^']+)' does not exist", message)
    return m[1] if m else None


def parse_prime(args: list[str], folder: Path, place: str) -> None:
    """Parse ``prime ARGS`` with the real click commands, without running them.

    Files an option must name and that the folder lacks (model weights) are made empty
    first, so only the options and their values are checked.
    """
    from prime_rs.cli import cli

    cmd: click.Command = cli
    name = "prime"
    rest = list(args)
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), rest[0])
        assert sub is not None, f"{place}: prime has no command {' '.join([name, rest[0]])!r}"
        cmd, name, rest = sub, f"{name} {rest[0]}", rest[1:]
    for _ in range(10):
        try:
            ctx = cmd.make_context(name, list(rest))
            ctx.close()
            return
        except click.exceptions.Exit as e:  # --help, --version
            assert e.exit_code == 0, f"{place}: {name} exited with {e.exit_code}"
            return
        except click.BadParameter as e:
            missing = _missing_path(e.format_message())
            if missing is None or (folder / missing).exists():
                raise AssertionError(f"{place}: `{name} ...`: {e.format_message()}") from None
            (folder / missing).parent.mkdir(parents=True, exist_ok=True)
            (folder / missing).touch()
        except click.UsageError as e:
            raise AssertionError(f"{place}: `{name} ...`: {e.format_message()}") from None
    raise AssertionError(f"{place}: could not parse {args}")


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_commands_parse(path: Path, page_folder: Path) -> None:
    """Every prime line of every block (run or parse-only) is accepted by its click parser."""
    n = 0
    for block in blocks(path):
        if block.kind not in ("shell", "console") or block.mode == "skip" or block.problems:
            continue
        for cmd in commands(block):
            if cmd.prime_args is not None:
                parse_prime(cmd.prime_args, page_folder, where(path, cmd.line))
                n += 1
    if path.name == "cli.md":
        assert n >= 10


# -- running the blocks ------------------------------------------------------------------


def _outputs(args: list[str]) -> list[str]:
    out = []
    for i, a in enumerate(args):
        if a in ("-o", "--output", "--report-dir") and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith("--output="):
            out.append(a.split("=", 1)[1])
    return out


_MASKS = [
    (re.compile(r"\b\d+\.\d+ s\b"), "<t> s"),
    (re.compile(r"\b(threads\s+)\d+"), r"\1<n>"),
    (re.compile(r"\(\d+(\.\d+)? [kMG]?B\)"), "(<size>)"),
]


def _mask(text: str) -> str:
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


_PRIME_SCRIPT = "import sys; from prime_rs.cli import main; sys.exit(main(prog_name='prime'))"


def run_prime(cmd: Command, folder: Path, fixture: Path, place: str) -> None:
    args = cmd.prime_args or []
    for out in _outputs(args):
        # An output the fixture folder holds (for other examples to read) is written anew.
        if (fixture / out).exists() and (folder / out).exists():
            target = folder / out
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    env = dict(os.environ, PRIME_CACHE_DIR=str(folder / ".prime-cache"), COLUMNS="200")
    if cmd.tool == "prime":  # the console script, as installed, without relying on PATH
        program = [sys.executable, "-c", _PRIME_SCRIPT]
    else:
        program = [sys.executable, "-m", "prime_rs"]
    proc = subprocess.run(
        [*program, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    shown = " ".join(cmd.argv)
    assert proc.returncode == 0, (
        f"{place}: `{shown}` exited with {proc.returncode}\n"
        f"--- stderr ---\n{proc.stderr[-3000:]}\n--- stdout ---\n{proc.stdout[-2000:]}"
    )
    if cmd.expected is not None:
        checker = doctest.OutputChecker()
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        want, got = _mask(cmd.expected), _mask(proc.stdout)
        if not checker.check_output(want, got, flags):
            example = doctest.Example(shown, want)
            diff = checker.output_difference(example, got, flags | doctest.REPORT_UDIFF)
            raise AssertionError(f"{place}: the output of `{shown}` differs from the docs\n{diff}")


def run_python(block: Block, namespace: dict, parse_only: bool) -> None:
    # Leading newlines keep the page's line numbers in tracebacks.
    source = "\n" * block.line + block.text
    tree = ast.parse(source, filename=str(block.path))
    if parse_only:
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        tree = ast.Module(body=imports, type_ignores=[])
    code = compile(tree, filename=block.where, mode="exec")
    try:
        exec(code, namespace)
    except Exception as e:
        raise AssertionError(f"{block.where}: the Python block failed: {e!r}") from e


def run_pycon(block: Block, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.text, namespace, block.where, str(block.path), block.line
    )
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, f"{block.where}: doctest failed\n" + "".join(report)


@pytest.mark.parametrize("path", _page_params())
def test_page_runs(path: Path, page_folder: Path, docs_data: Path) -> None:
    """Run the page's blocks in order, in a fresh copy of the fixture files."""
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(path):
        assert not block.problems, f"{block.where}: {block.problems[0]}"
        if block.mode != "run":
            NOT_RUN.append((block.where, block.mode, block.reason or ""))
        if block.mode == "skip" or block.kind == "text":
            continue
        parse_only = block.mode == "parse-only"
        if block.kind == "python":
            run_python(block, namespace, parse_only)
        elif block.kind == "pycon":
            if parse_only:
                lines = block.text.splitlines()
                text = "\n".join(ln[4:] for ln in lines if ln.startswith((">>> ", "... ")))
                run_python(Block(block.path, block.line, "python", text + "\n"), namespace, True)
            else:
                run_pycon(block, namespace)
        else:
            for cmd in commands(block):
                place = where(path, cmd.line)
                if cmd.prime_args is None:
                    continue  # make, pip, git, cargo: shown, not run
                if parse_only:
                    parse_prime(cmd.prime_args, page_folder, place)
                else:
                    run_prime(cmd, page_folder, docs_data, place)


def _leaf_commands() -> list[tuple[str, click.Command]]:
    from prime_rs.cli import cli

    out = []

    def walk(cmd: click.Command, name: str) -> None:
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(click.Context(cmd)):
                walk(cmd.commands[sub], f"{name} {sub}")
        else:
            out.append((name, cmd))

    walk(cli, "prime")
    return out


def _option_rows(cmd: click.Command) -> list[str]:
    """The rows docs/cli.md's option table of ``cmd`` must have, from click's own help."""
    rows = []
    ctx = click.Context(cmd)
    for param in cmd.params:
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record is None:
            continue
        names, text = record
        rows.append(
            f"| `{names.replace('|', chr(92) + '|')}` | {text.replace('|', chr(92) + '|')} |"
        )
    return rows


def test_cli_reference_matches_the_commands() -> None:
    """docs/cli.md has a section for every command, with its usage line and one row per
    option exactly as ``--help`` gives it (names, value, help text and default)."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = {
        m[1]: m[2]
        for m in re.finditer(
            r"^#+ `(prime[\w -]*)`\n(.*?)(?=^#+ `prime|\Z)", text, flags=re.M | re.S
        )
    }
    problems = []
    for name, cmd in _leaf_commands():
        if name not in sections:
            problems.append(f"no section for {name}")
            continue
        body = sections[name]
        pieces = cmd.collect_usage_pieces(click.Context(cmd, info_name=name))
        usage = f"Usage: {name} {' '.join(pieces)}"
        if usage not in body:
            problems.append(f"{name}: the usage line should be: {usage}")
        shown = [line for line in body.splitlines() if line.startswith("| `")]
        wanted = _option_rows(cmd)
        if shown != wanted:
            problems.append(f"{name}: the option table should read:\n" + "\n".join(wanted))
    assert not problems, "docs/cli.md is out of date:\n" + "\n".join(problems)


# -- the front page and the site ---------------------------------------------------------


def test_readme_is_a_front_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for needed in ("make demo", "make test", "docs/demo-report.png"):
        assert needed in text, needed
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)(?:#[\w-]*)?\)", text))
    assert len(linked) >= 8, linked


_LINK = re.compile(r"\]\(([^)#\s]*)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    bad = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or not target:
            continue
        if not (path.parent / target).exists():
            bad.append(target)
    assert not bad, f"{_page_id(path)}: links to missing files: {bad}"


def test_mkdocs_nav_lists_every_page() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["strict"] is True

    def walk(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in walk(item)]
        if isinstance(nav, dict):
            return [p for v in nav.values() for p in walk(v)]
        return []

    in_nav = sorted(walk(config["nav"]))
    on_disk = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert in_nav == on_disk
