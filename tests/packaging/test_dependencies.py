"""One source of truth for dependencies: every package that the package, the tests or the
example import is declared in pyproject.toml, in exactly one place (the core dependencies,
an extra, or a dependency group), and nothing is declared twice."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the dev group brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parents[2]
SOURCES = ("python", "tests", "examples")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, list[str]]:
    """Each declared distribution (normalized) and where it is declared."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lists = {"dependencies": project["project"]["dependencies"]}
    for extra, reqs in project["project"]["optional-dependencies"].items():
        lists[f"extra {extra}"] = reqs
    for group, reqs in project["dependency-groups"].items():
        lists[f"group {group}"] = [r for r in reqs if isinstance(r, str)]
    where: dict[str, list[str]] = {}
    for place, reqs in lists.items():
        for req in reqs:
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
            assert name, f"{place}: cannot read the requirement {req!r}"
            where.setdefault(_normalize(name.group(0)), []).append(place)
    return where


def _imports() -> dict[str, set[str]]:
    """Top-level names imported anywhere in the sources (not the standard library's, not
    this project's own modules), each with the files that import it."""
    local = {p.stem for d in SOURCES for p in (ROOT / d).rglob("*.py")} | {"prime_rs"}
    found: dict[str, set[str]] = {}
    for d in SOURCES:
        for path in (ROOT / d).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in local or top == "__future__":
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_nothing_is_declared_twice() -> None:
    twice = {name: places for name, places in _declared().items() if len(places) > 1}
    assert not twice, f"declared more than once: {twice}"


def test_every_import_is_declared() -> None:
    declared = _declared()
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for top, files in sorted(_imports().items()):
        # Not installed here (tomli, on Python >= 3.11): its import name is its name.
        names = {_normalize(d) for d in dists.get(top, [top])}
        if not names & set(declared):
            missing[top] = (sorted(names), sorted(files))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_core_is_small() -> None:
    """What `pip install prime_rs` (and `make demo`) brings: numpy, polars, click."""
    core = [p for p, places in _declared().items() if "dependencies" in places]
    assert sorted(core) == ["click", "numpy", "polars"]
