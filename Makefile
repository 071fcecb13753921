# gridopt: the two set-up commands (make demo, make test) and the benchmark run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml $(RUNTIME)
	$(PY) -m pip install -q -e ".[dev,bench,dask,osm]"
	touch $(STAMP)

demo: $(RUNTIME)
	$(VENV)/bin/gridopt demo --out demo-output --force

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q tests gridopt
	$(PY) -m pytest -q benchmarks --benchmark-disable -p no:cacheprovider

bench: $(STAMP)
	$(PY) benchmarks/run_bench.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .benchmarks
