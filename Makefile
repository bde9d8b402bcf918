# The two commands of the README: `make book` (the main job) and `make test`.
# Both create .venv when missing and reinstall only when pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= quick
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS   ?=
# The torch build CI installs (Python 3.11, from the package index); override for another platform,
# e.g. `make book TORCH_SPEC="torch torchvision"` or a CPU-only wheel index.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: book test venv lint lab data clean-book

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[all]' ./kernel
	touch $(STAMP)

## The main job: run the profile's sweep, execute every notebook, build the Jupyter Book.
book: $(STAMP)
	$(BIN)/mdico book --profile $(PROFILE) --executor processes --workers $(WORKERS) $(ARGS)
	@echo "Book: book/_build/html/index.html"

## The test suite (CI runs exactly this, after seeding the data cache).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check mdico_core tests benchmarks

## JupyterLab on the notebooks, with the project's "mdico" kernel.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## Fetch every dataset that has a public download (needs internet), or seed from a folder: make data FROM=../shared/data
data: $(STAMP)
	$(if $(FROM),$(BIN)/mdico data seed $(FROM),$(BIN)/mdico data fetch all)

clean-book:
	rm -rf book/_build book/generated
