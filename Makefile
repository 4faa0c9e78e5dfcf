# The single entry point: make dev | demo | test | wheel | bench | lint
# Everything installs into the project's own virtual environment (.venv). What it installs is
# declared once, in pyproject.toml: the core dependencies, the extras (vision, evaluate, ray) and
# the dependency groups (build, wheel, dev), which pip >= 25.1 installs by name.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet
EXTRAS := vision,evaluate,ray
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

.PHONY: dev demo engine wheel test test-rust test-python bench lint docs clean system-deps

# Debian packages the tests use: headless Chromium (the report's DOM test) and the
# Fashion-MNIST data (the example's CI-sized run). Installed once, when missing.
system-deps:
	@if ! command -v chromium >/dev/null || [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		apt-get update -qq && apt-get install -y -qq chromium dataset-fashion-mnist; \
	fi

# The environment with the build tools only (maturin): all `make demo` needs besides the
# core dependencies, which the engine's install brings.
$(VENV)/.build: pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) --group build
	touch $@

# ... plus zig and auditwheel (`make wheel`).
$(VENV)/.wheel: $(VENV)/.build
	$(PIP) --group wheel
	touch $@

# ... plus the dev group alone (test, lint, docs and wheel tools), without the engine.
$(VENV)/.installed: $(VENV)/.build
	$(PIP) --group dev
	touch $@

# Editable install of a release build (a stale extension in python/ would shadow it), with
# the core dependencies only. (Without --group, maturin develop would install the dev group.)
engine: $(VENV)/.build
	rm -f python/prime_rs/_engine*.so python/prime_rs/_engine*.pyd
	$(VENV)/bin/maturin develop --release --quiet --group build

# The same, with every extra (torch is large: downloaded once, then cached by pip) and the
# dev group (test, lint, docs and wheel tools).
dev: $(VENV)/.build
	rm -f python/prime_rs/_engine*.so python/prime_rs/_engine*.pyd
	$(VENV)/bin/maturin develop --release --quiet --extras $(EXTRAS) --group dev

demo: engine
	$(VENV)/bin/prime demo

# The portable wheel (abi3, manylinux2014: glibc >= 2.17, linked by zig) and the sdist, in
# dist/; auditwheel must find the wheel consistent with manylinux_2_17.
wheel: $(VENV)/.wheel
	rm -rf dist
	$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out dist
	$(VENV)/bin/maturin sdist --out dist
	$(VENV)/bin/auditwheel show dist/*.whl | tee dist/auditwheel.txt
	@grep -q '"manylinux_2_17_x86_64"' dist/auditwheel.txt || \
		{ echo "error: the wheel is not manylinux_2_17 (manylinux2014); see dist/auditwheel.txt"; exit 1; }
	@rm dist/auditwheel.txt
	@ls -l dist

# A hang (a deadlock, say) stops the Rust tests after 30 minutes (the build included) and
# says so, instead of holding CI until its own limit; the test harness has already named the
# tests running for over 60 seconds.
test-rust:
	@timeout 1800 cargo test -p prime-core --release || { rc=$$?; \
		[ $$rc -ne 124 ] || echo "error: the Rust tests ran past 30 minutes: a test hangs"; \
		exit $$rc; }

# The package's doctests, then tests/ (apart: --doctest-modules would import each area's
# conftest.py as a module of its own, and they share a name). The wheel smoke test
# (tests/packaging) installs what `make wheel` put in dist/.
test-python: dev system-deps wheel
	$(PY) -m pytest -q --doctest-modules python/prime_rs
	$(PY) -m pytest -q tests

test: test-rust test-python

# The peers of `make bench`, each set installed once into an environment of its own
# (pysubgroup pins numpy < 2). `make bench BENCH_ARGS=--quick` runs the short smoke test.
BENCH_ARGS ?=
.venv-bench/.installed: benches/requirements-peers.txt
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -r benches/requirements-peers.txt
	touch $@

.venv-pysubgroup/.installed: benches/requirements-pysubgroup.txt
	$(PYTHON) -m venv .venv-pysubgroup
	.venv-pysubgroup/bin/python -m pip install --quiet --upgrade pip
	.venv-pysubgroup/bin/python -m pip install --quiet -r benches/requirements-pysubgroup.txt
	touch $@

bench: dev .venv-bench/.installed .venv-pysubgroup/.installed
	$(PY) benches/run.py $(BENCH_ARGS)

lint: dev
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m mypy.stubtest prime_rs._engine

# The documentation site (docs/, mkdocs.yml) into site/; warnings are errors.
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf target dist $(VENV) .venv-bench .venv-pysubgroup python/prime_rs/_engine*.so
