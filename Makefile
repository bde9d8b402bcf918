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

.PHONY: book test venv lint lab data clean-book bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[all]' ./kernel
	touch $(STAMP)

## The main job: get the book's data if missing, run the profile's sweep, execute every notebook,
## build the Jupyter Book. Offline, the book still builds and says which benchmarks were not run.
book: $(STAMP)
	@$(MAKE) --no-print-directory data || echo "warning: could not get the book's data (offline?); its pages" \
		"will say 'not run'. Seed the cache from a folder: make data FROM=<folder>; see data/README.md" >&2
	$(BIN)/mdico book --profile $(PROFILE) --executor processes --workers $(WORKERS) $(ARGS)
	@echo "Book: book/_build/html/index.html"

## The test suite (CI runs exactly this, after seeding the data cache).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

## Training speed on this machine (a few minutes): epoch times, memory per worker, and each case's
## fraction of this machine's float32 matmul rate, measured around it in the same process.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py --out results/bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check mdico_core tests benchmarks

## JupyterLab on the notebooks, with the project's "mdico" kernel.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## Fetch the book's datasets into the checksum-verified cache (LFMC and its real stand-ins, ~6 MB;
## files already cached are only verified), or seed it from a folder: make data FROM=../shared/data.
## `make data DATASETS="croph_b tsaits"` fetches others (GBs; see data/README.md).
DATASETS ?= lfmc algae_blooms
data: $(STAMP)
	$(if $(FROM),$(BIN)/mdico data seed $(FROM),for d in $(DATASETS); do $(BIN)/mdico data fetch $$d || exit 1; done)

clean-book:
	rm -rf book/_build book/generated
