# Each target creates the virtual environment it needs if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint format study benchmark docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,docs]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

study: $(STAMP)
	$(BIN)/python -m skmtl.study $(ARGS)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_fit_speed.py

# The site, in docs/_build/html, running the gallery's examples; warnings are errors.
# SPHINXOPTS="-D plot_gallery=0" builds it without running them.
docs: $(STAMP)
	$(BIN)/sphinx-build -b html -W --keep-going $(SPHINXOPTS) docs docs/_build/html

clean:
	rm -rf $(VENV) study_results
