"""The wheel and the sdist that ``make wheel`` puts in ``dist/``, installed as a user would.

The wheel goes into a fresh virtual environment whose ``PATH`` holds no Rust toolchain and
whose installs take binary wheels only (nothing can be compiled), away from the checkout;
there it must run ``prime --version``, ``python -m prime_rs --help``, ``prime demo`` and the
README's quick start. The sdist goes into another fresh environment, where pip builds it
with Rust (in ``target/sdist-check``, kept between runs so that a re-run rebuilds only our own
crates). Both need PyPI for the core dependencies (numpy, polars, click).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
DIST = ROOT / "dist"
RUST_TOOLS = ("cargo", "rustc", "rustup")
#: The wheel is a release build of one small extension module.
MAX_WHEEL_BYTES = 3_000_000


def _version() -> str:
    """The version, defined once: the Cargo workspace's."""
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    found = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', text, re.M | re.S)
    assert found, "Cargo.toml has no [workspace.package] version"
    return found.group(1)


def _one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {DIST}, found {found}: run `make wheel`"
    return found[0]


def _env(path: str) -> dict[str, str]:
    """The user's environment with ``path`` as PATH, nothing of this checkout's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = path
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _without_rust() -> str:
    """This machine's PATH without this checkout's venv and without any Rust toolchain."""
    venv = Path(sys.prefix).resolve()
    keep = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or Path(d).resolve().is_relative_to(venv):
            continue
        if any((Path(d) / tool).exists() for tool in RUST_TOOLS):
            continue
        keep.append(d)
    return os.pathsep.join(keep)


def _venv(where: Path, path: str) -> tuple[Path, dict[str, str]]:
    """A fresh virtual environment; its bin folder and the environment that runs in it."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    bin_dir = where / "bin"
    return bin_dir, _env(os.pathsep.join([str(bin_dir), path]))


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _quick_start() -> tuple[str, str]:
    """The README's quick start: its Python block and its first shell command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    python = re.search(r"```python\n(.*?)```", section, re.S)
    shell = re.search(r"```bash\n(.*?)\n", section, re.S)
    assert python and shell, "README.md's quick start lost its python or bash block"
    return python.group(1), shell.group(1).split("#", 1)[0].strip()


def test_wheel_is_portable() -> None:
    wheel = _one("*.whl")
    version = _version()
    assert wheel.name.startswith(f"prime_rs-{version}-cp310-abi3-"), wheel.name
    assert "manylinux_2_17_x86_64" in wheel.name and "manylinux2014_x86_64" in wheel.name
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"prime_rs-{version}.dist-info/METADATA").decode()
    assert f"prime_rs-{version}.dist-info/licenses/LICENSE" in names
    assert "prime_rs/datasets/fashion_mnist.parquet" in names
    # One compiled module, for every Python >= 3.10 (the stable ABI), with its type stub.
    assert [n for n in names if n.endswith(".so")] == ["prime_rs/_engine.abi3.so"]
    assert "prime_rs/_engine.pyi" in names
    assert "License-Expression: Apache-2.0" in meta and "Keywords: " in meta
    assert "Classifier: Programming Language :: Python :: 3.10" in meta
    assert "Project-URL: " in meta
    # The wheel itself: the core dependencies only, the rest as extras.
    needs = [line for line in meta.splitlines() if line.startswith("Requires-Dist: ")]
    core = [n.split()[1] for n in needs if "extra ==" not in n]
    assert core == ["numpy>=1.24", "polars>=2.0", "click>=8.1"]


def test_wheel_runs_without_rust(tmp_path: Path) -> None:
    wheel = _one("*.whl")
    version = _version()
    path = _without_rust()
    for tool in RUST_TOOLS:
        assert shutil.which(tool, path=path) is None, tool
    bin_dir, env = _venv(tmp_path / "venv", path)
    work = tmp_path / "work"  # away from the checkout: nothing of python/ is importable
    work.mkdir()
    py = str(bin_dir / "python")
    _run([py, "-m", "pip", "install", "--quiet", "--only-binary", ":all:", str(wheel)], env, work)

    out = _run([str(bin_dir / "prime"), "--version"], env, work)
    assert out.strip() == f"prime {version} (prime_rs engine, release build)"
    where = _run(
        [py, "-c", "import importlib.metadata as m, prime_rs; "
         "print(prime_rs.__file__); print(prime_rs.__version__, m.version('prime_rs'))"],
        env, work,
    ).split("\n")  # fmt: skip
    assert Path(where[0]).resolve().is_relative_to((tmp_path / "venv").resolve()), where[0]
    assert where[1] == f"{version} {version}"
    out = _run([py, "-m", "prime_rs", "--help"], env, work)
    assert out.startswith("Usage: python -m prime_rs") and "demo" in out

    out = _run([str(bin_dir / "prime"), "demo"], env, work, timeout=300)
    assert "Fashion-MNIST" in out and "per class (weakest first)" in out
    assert (work / "prime-demo" / "report.html").stat().st_size > 10_000

    # The README's quick start, word for word, on the bundled samples.
    code, command = _quick_start()
    _run(
        [py, "-c", "from prime_rs.datasets import fashion_mnist; import polars as pl; "
         "fashion_mnist().filter(pl.col('split') == 'detect').write_parquet('samples.parquet')"],
        env, work,
    )  # fmt: skip
    out = _run([py, "-c", code], env, work)
    shape = re.search(r"^shape: \((\d+), (\d+)\)$", out, re.M)  # polars prints the modes table
    assert shape and int(shape.group(2)) >= 8 and "label" in out, out
    assert command == "prime search samples.parquet -o modes.parquet"
    _run(command.split(), env, work)
    assert (work / "modes.parquet").stat().st_size > 0


def test_sdist_builds_and_runs(tmp_path: Path) -> None:
    sdist = _one("*.tar.gz")
    version = _version()
    assert sdist.name == f"prime_rs-{version}.tar.gz"
    bin_dir, env = _venv(tmp_path / "venv", os.environ["PATH"])
    target = ROOT / "target" / "sdist-check"
    env["CARGO_TARGET_DIR"] = str(target)
    # The sdist's files all carry one fixed date, so cargo would take our own crates' builds
    # from an earlier run as fresh: forget them (the dependencies' builds are kept).
    for fingerprint in target.glob("*/.fingerprint/prime-*"):
        shutil.rmtree(fingerprint)
    work = tmp_path / "work"
    work.mkdir()
    py = str(bin_dir / "python")
    _run([py, "-m", "pip", "install", "--quiet", str(sdist)], env, work, timeout=1200)
    out = _run([str(bin_dir / "prime"), "--version"], env, work)
    assert out.strip() == f"prime {version} (prime_rs engine, release build)"
    out = _run([py, "-m", "prime_rs", "--help"], env, work)
    assert out.startswith("Usage: python -m prime_rs")
    code = (
        "from prime_rs.datasets import fashion_mnist; from prime_rs.pipeline import DEMO_PARAMS; "
        "import prime_rs, polars as pl; "
        "d = fashion_mnist().filter(pl.col('split') == 'detect'); "
        "print(prime_rs.find_failure_modes(d, DEMO_PARAMS).height)"
    )
    assert int(_run([py, "-c", code], env, work)) > 0
