# Every target sets itself up: .venv is (re)built from pyproject.toml when that file changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test demo bench bench-load lint generate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[test,oracle]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check derive tests bench generated
	$(BIN)/ruff format --check derive tests bench generated
	$(BIN)/mypy derive

# Two pytest workers on two cores: one BLAS thread each, or they oversubscribe the machine.
test: lint
	$(BIN)/derive generate --all --check
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests

demo: $(STAMP)
	$(BIN)/python -m derive.training.demo

# The bench also times JAX's jit, a large download only `make bench` needs.
$(VENV)/.bench-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet --quiet -e '.[test,oracle,bench]'
	touch $@

bench: $(VENV)/.bench-stamp
	$(BIN)/python bench/bench.py

# The same with a busy process for the loaded blocks (issue 15: BLAS threads on a busy core).
bench-load: $(VENV)/.bench-stamp
	$(BIN)/python bench/bench.py --load

generate: $(STAMP)
	$(BIN)/derive generate --all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
