"""No import circles anywhere in the package, imports inside functions included.

``make lint`` checks the layers with import-linter (``[tool.importlinter]`` in
pyproject.toml); this test checks the whole module graph for cycles with the standard
library alone, so a circle inside one layer (two evaluate modules importing each other)
fails too. The root package (``prime_rs/__init__.py``, which re-exports the public API) and
the compiled engine are left out of the graph: importing a submodule from the root is how
a package exposes its API, not a circle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import prime_rs

PACKAGE = Path(prime_rs.__file__).parent
ROOT = "prime_rs"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0]
                    base = f"{parent}.{base}" if base else parent
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                # The nearest module of ours that the import names.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != ROOT and target != name:
                    graph[name].add(target)
    del graph[ROOT]
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circles_in_the_package() -> None:
    graph = _graph()
    assert len(graph) > 40  # the walk saw the package
    assert "prime_rs.index" in graph["prime_rs.search"]  # and its imports
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_import_prime_rs_stays_light_and_whole_jobs_load_on_use() -> None:
    """``import prime_rs`` loads the search, not the evaluation, report, vision or click;
    ``prime_rs.run`` and ``prime_rs.demo`` are the pipeline's, loaded on first use."""
    code = (
        "import sys, prime_rs\n"
        "heavy = ['prime_rs.pipeline', 'prime_rs.report', 'prime_rs.evaluate', "
        "'prime_rs.vision', 'prime_rs.cli', 'click', 'torch']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import prime_rs.pipeline as p\n"
        "print(prime_rs.run is p.run, prime_rs.demo is p.demo)\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True True"]
