# Quick start: `make demo` (set up, then run the main job) and `make test` (set up, then run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

# torch==2.13.0 first: on a CPU machine of this kind it is the CPU build on disk; elsewhere the normal wheel.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(PY) -m medunet.demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/bench_networks.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
