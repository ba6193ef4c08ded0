# Two entry points do all set-up on a fresh machine:
#   make run    build the default tables for K = 4..64 into tables/, then verify them
#   make test   run the test suite
# Each creates .venv and installs what it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
K ?= 4..64
# Creation time written into the shipped tables; with the same code the
# build reproduces the committed files byte for byte.
SOURCE_DATE_EPOCH ?= 1796342400
export SOURCE_DATE_EPOCH

.PHONY: run test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[plot]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,train,verl-test]'
	$(BIN)/python -m pip install --quiet --no-deps verl==0.9.1
	touch $@

run: $(VENV)/.installed-run
	$(BIN)/alftc build --K $(K) --out tables --fresh
	$(BIN)/alftc verify tables/alftc-tables.json tables/alftc-tables.h5

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py --out docs/benchmarks.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
