# Quick start: `make demo` (set up + run the pipeline on sample_data) and `make test`.
# Each target creates .venv when it is missing; nothing else needs to be installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow test-browser lint app clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0 is the CPU build on disk on our machines; users with a GPU may pre-install any CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,app,distributed]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/curate demo

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

test-browser: setup
	$(PY) -m pytest -q -m browser

lint: setup
	$(VENV)/bin/ruff check .

app: setup
	$(VENV)/bin/curate app

clean:
	rm -rf $(VENV) curate.duckdb curate.duckdb.wal .curate
