"""Which runs each page needs at a profile (reporting/book/book_plan.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mdico_core.reporting.book import book_plan
from mdico_core.reporting.core import paper


@pytest.fixture
def toy_world(present_only):
    """Only the synthetic datasets exist: every benchmark resolves to synthetic data at smoke."""
    present_only(lambda name: name.startswith("toy_"))


def test_configs_per_notebook(toy_world):
    from mdico_core.experiments.profile import load_profile

    assert book_plan.configs("01_data_overview", "smoke") == []
    main = book_plan.configs("02_main_results", "smoke", "lfmc")
    assert {c.dataset for c in main} == {"toy_regression"}
    assert {c.method for c in main} == {"individual", "mdico", *load_profile("smoke").methods}
    abl = book_plan.configs("03_ablation", "smoke")
    assert {c.variant for c in abl if c.method == "mdico"} == set(paper.ABLATION_VARIANTS)
    enc = book_plan.configs("05_encoders", "smoke")
    assert {c.encoder for c in enc} == set(paper.ENCODERS)
    rel = book_plan.configs("09_released_vs_paper", "smoke")
    # the released-code archive's parts; raw LFMC units only where the released code has their constants
    variants = {"rel_tau", "rel_contrastive", "rel_disc_shared", "rel_halves", "rel_norm", "released"}
    assert {(c.method, c.variant, c.protocol, c.train.monitor) for c in rel} == {
        ("individual", "default", "paper", "total"), ("individual", "default", "released", "total"),
        ("mdico", "default", "paper", "total"), ("mdico", "default", "released", "total"),
        ("mdico", "default", "released_validation", "total"), ("mdico", "default", "released_statistics", "total"),
        ("mdico", "released", "released", "total"), ("individual", "default", "paper", "task"),
        ("mdico", "default", "paper", "task"), *{("mdico", v, "paper", "total") for v in variants}}
    assert book_plan.configs("04_shared_specific", "smoke", "lfmc")[0].dataset == "toy_regression"  # page override
    with pytest.raises(ValueError, match="valid notebooks"):
        book_plan.configs("99_nope", "smoke")


def test_configs_seeds_folds_and_dedup(toy_world):
    cfgs = book_plan.configs("02_main_results", "smoke", "croph_b", seeds=(5, 6), folds=(1,))
    assert {(c.seed, c.fold) for c in cfgs} == {(5, 1), (6, 1)}
    allc = book_plan.all_configs("smoke")
    ids = [c.run_id for c in allc]
    assert len(ids) == len(set(ids))
    # every page's runs are in the book's sweep, so no page lacks anything after it
    for nb in book_plan.NOTEBOOKS:
        assert {c.run_id for c in book_plan.configs(nb, "smoke")} <= set(ids)


def test_quick_plan_is_smaller_than_paper(present_only):
    present_only(lambda name: name in ("lfmc", "algae_blooms", "algae_blooms_binary"))
    quick = book_plan.all_configs("quick")
    # TreeSatAI absent: no synthetic stand-in at quick; CropH-b runs on the binary stand-in only
    assert {c.dataset for c in quick} == {"lfmc", "algae_blooms", "algae_blooms_binary"}
    croph_b = book_plan.configs("02_main_results", "quick", "croph_b")
    assert {c.dataset for c in croph_b} == {"algae_blooms_binary"}
    assert 0 < len(quick) < len(book_plan.all_configs("paper"))
    assert book_plan.book_plan("quick").encoder_datasets == ("lfmc",)
    assert not book_plan.book_plan("quick").synthetic_fallback


def test_quick_studies_rerun_their_archives_cells(present_only):
    """At quick, the pages built from an archive re-run runs of the archive itself (fold 0, seed 0, the
    archive's profile: the same run ids), so that each is checked run by run; at paper, 09 is exactly its archive."""
    from mdico_core.experiments.archives import ARCHIVES

    present_only(lambda name: name in ("lfmc", "algae_blooms", "algae_blooms_binary", "mfeat"))

    def cells(cfgs):
        return {(c.dataset, c.method, c.variant, c.encoder, c.protocol, c.settings, c.train.monitor, c.modalities)
                for c in cfgs}

    assert book_plan.configs(book_plan.FINDINGS, "quick") == []  # it reads its archives only
    for nb in set(book_plan.PAGE_ARCHIVES) - {book_plan.FINDINGS}:
        quick = book_plan.configs(nb, "quick", "lfmc" if nb not in ("02_main_results", book_plan.BEYOND) else None)
        archived = [c for name in book_plan.page_archives(nb) for c in ARCHIVES[name].configs()]
        # 03 and 05 re-run their cheapest cells (test_quick_secondary_cells_are_the_cheapest); 04, 06-08 read
        # Individual's / MDiCo's runs of the main page; 09 and Beyond re-run a slice
        assert cells(quick) <= cells(archived), nb
        assert {c.fold for c in quick} == {0} and {c.seed for c in quick} == {0}, nb  # a spot check of the archive
        assert {c.run_id for c in quick} <= {c.run_id for c in archived}, nb  # each the twin of an archived run
    released = book_plan.configs("09_released_vs_paper", "quick", "lfmc")
    assert {(c.method, c.variant, c.protocol, c.train.monitor) for c in released} == {
        ("mdico", "released", "released", "total"), ("mdico", "default", "paper", "total"),
        ("individual", "default", "paper", "total")}  # the released code as a whole, and its references
    assert {c.run_id for c in book_plan.configs("09_released_vs_paper", "paper")} == ARCHIVES["lfmc_released"].run_ids()
    # an archived benchmark's evidence is its archive: quick re-runs fold 0 of its cells on every page
    for bench, name in book_plan.ARCHIVED.items():
        main = book_plan.configs("02_main_results", "quick", bench)
        assert {c.fold for c in main} == {0}, bench
        assert cells(main) == {k for k in cells(ARCHIVES[name].configs()) if k[5] == "common"}, bench
    assert {c.fold for nb in book_plan.NOTEBOOKS for c in book_plan.configs(nb, "quick")} == {0}
    asked = book_plan.configs("02_main_results", "quick", "lfmc", folds=(0, 1))
    assert {c.fold for c in asked} == {0, 1}  # folds asked: the build's profile, no twin
    assert all(c.train.max_epochs == 30 for c in asked)
    # the real CropHarvest, once fetched, has no archive here: its page runs the profile's three folds
    present_only(lambda name: name in ("lfmc", "croph_m", "algae_blooms", "algae_blooms_binary", "mfeat"))
    real = book_plan.configs("02_main_results", "quick", "croph_m")
    assert {c.dataset for c in real} == {"croph_m"} and {c.fold for c in real} == {0, 1, 2}
    assert {c.fold for c in book_plan.configs("04_shared_specific", "quick") if c.dataset == "croph_m"} == {0, 1, 2}


def test_beyond_page_reruns_a_slice_of_its_archives_below_paper(present_only):
    """"Beyond the paper" shows four archives; quick and smoke re-run Individual and MDiCo on mfeat's six
    views (fold 0, seed 0), cells of archive mfeat_methods; paper re-runs exactly the four archives."""
    from mdico_core.experiments.archives import ARCHIVES

    assert book_plan.page_archives(book_plan.BEYOND) == ("mfeat_methods", "mfeat_views", "presto_modalities",
                                                         "lfmc_sites")
    assert book_plan.page_archives("01_data_overview") == ()
    present_only(lambda name: name in ("mfeat", "presto_lfmc", "lfmc"))
    methods = {c.run_id: c for c in ARCHIVES["mfeat_methods"].configs()}
    for profile in ("smoke", "quick"):
        cfgs = book_plan.configs(book_plan.BEYOND, profile)
        assert {(c.dataset, c.method, c.encoder, c.modalities, c.fold, c.seed) for c in cfgs} == {
            ("mfeat", m, "mlp", None, 0, 0) for m in ("individual", "mdico")}, profile
        assert book_plan.page_benchmarks(book_plan.BEYOND, book_plan.book_plan(profile)) == ("mfeat",)
    quick = book_plan.configs(book_plan.BEYOND, "quick")
    assert {c.run_id for c in quick} <= set(methods)  # twins of archived runs, at the archive's budget
    assert all(c.train.max_epochs == 100 for c in quick)  # the paper profile's budget
    assert {c.run_id for c in book_plan.configs(book_plan.BEYOND, "paper")} == set().union(
        *(ARCHIVES[n].run_ids() for n in book_plan.page_archives(book_plan.BEYOND)))
    asked = book_plan.configs(book_plan.BEYOND, "quick", seeds=(0,), folds=(0, 1))  # asked: the build's budget
    assert {c.fold for c in asked} == {0, 1} and all(c.train.max_epochs == 30 for c in asked)
    present_only(lambda name: False)  # mfeat absent: nothing to re-run, the page says so
    assert book_plan.configs(book_plan.BEYOND, "quick") == []


def test_book_plan_override_from_profile():
    from mdico_core.experiments.profile import load_profile

    class WithBook:  # a profile carrying a ``book:`` mapping, as a yaml may one day
        def __init__(self, book):
            self._p, self.book = load_profile("smoke"), book

        def __getattr__(self, k):
            return getattr(self._p, k)

    assert book_plan.book_plan(WithBook({"encoders": ["mlp"]})) == replace(book_plan.BOOK_PLANS["smoke"],
                                                                           encoders=("mlp",))
    with pytest.raises(ValueError, match="unknown book plan field"):
        book_plan.book_plan(WithBook({"nope": 1}))


def test_page_benchmarks():
    plan = book_plan.book_plan("quick")
    assert book_plan.page_benchmarks("02_main_results", plan, "tsaits") == ("tsaits",)
    assert book_plan.page_benchmarks("07_loss_curves", plan) == plan.loss_datasets
    assert book_plan.page_benchmarks("07_loss_curves", plan, "lfmc,croph_m") == ("lfmc", "croph_m")
    assert book_plan.page_benchmarks("01_data_overview", plan) == paper.BENCHMARKS


def test_book_sweep_starts_the_longest_runs_first():
    """The archives' training times order the book's sweep: unknown cells first, then the longest."""
    from mdico_core.experiments.profile import load_profile

    quick = load_profile("quick")
    short, long_ = (quick.configs("lfmc", ["individual"], encoders=["mlp"], folds=[0])[0],
                    quick.configs("lfmc", ["mdico"], encoders=["transformer"], folds=[0])[0])
    unknown = quick.configs("toy_regression", ["individual", "mdico"], folds=[0])
    assert book_plan.longest_first([short, *unknown, long_]) == [*unknown, long_, short]  # ties keep their order
    assert book_plan._cell(("mfeat", "mdico", "default", "mlp", "paper", "common", "total", ("kar", "fou"))) == \
        book_plan._cell(("mfeat", "mdico", "default", "mlp", "paper", "common", "total", "fou,kar"))


def test_the_own_method_page_trains_its_file_beside_individual_and_mdico_on_the_same_splits(present_only, monkeypatch):
    """"Add your own method" registers its example file like a user's (``$MDICO_METHODS``, which worker
    processes and kernels inherit) and plans it with Individual and MDiCo on the same splits: at quick, the
    twins of archived runs at fold 0 (its test is on its archive); given five folds, enough for a test."""
    from mdico_core.methods import external as ext

    monkeypatch.setattr(ext, "EXTERNAL", {})
    monkeypatch.setattr(ext, "SOURCES", {})
    monkeypatch.setattr(ext, "_LOADED", set())
    monkeypatch.delenv(ext.ENV_METHODS, raising=False)
    present_only(lambda name: name == "lfmc")
    cfgs = book_plan.configs(book_plan.OWN_METHOD, "quick")
    import os

    assert str(book_plan.OWN_METHOD_FILE) in os.environ[ext.ENV_METHODS]
    assert ext.EXTERNAL[book_plan.OWN_METHOD_NAME].name == book_plan.OWN_METHOD_NAME  # checked and registered
    cells = {(c.method, c.fold, c.seed) for c in cfgs}
    assert cells == {(m, 0, 0) for m in ("individual", "mdico", book_plan.OWN_METHOD_NAME)}
    from mdico_core.experiments.archives import ARCHIVES

    archived = ARCHIVES["lfmc_own_method"].run_ids() | ARCHIVES["lfmc_paper"].run_ids()
    assert {c.run_id for c in cfgs} <= archived  # each the twin of an archived run
    five = book_plan.configs(book_plan.OWN_METHOD, "quick", folds=range(5))
    assert {(c.method, c.fold) for c in five} == {(m, f) for m in ("individual", "mdico", book_plan.OWN_METHOD_NAME)
                                                  for f in range(5)}
    assert {c.dataset for c in cfgs} == {"lfmc"}
    assert book_plan.OWN_METHOD in book_plan.NOTEBOOKS and book_plan.page_benchmarks(
        book_plan.OWN_METHOD, book_plan.book_plan("quick")) == ("lfmc",)


def test_quick_secondary_cells_are_the_cheapest(present_only):
    """The ablation variants and encoders quick re-runs are those whose every archived twin (fold 0, seed 0)
    trained in under ``QUICK_CHECK_CAP_S``: chosen by cost, from the archive, never by a result."""
    import pandas as pd

    from mdico_core.reporting.book.archive import read_runs

    present_only(lambda name: name == "lfmc")
    plan, cap = book_plan.book_plan("quick"), book_plan.QUICK_CHECK_CAP_S

    def cheap(archive: str, field: str, default: str) -> set[str]:
        runs = read_runs(archive).drop_duplicates("run_id")
        runs = runs[(runs["fold"] == 0) & (runs["seed"] == 0) & (runs[field] != default)]
        slowest = runs.groupby(field)["wall_time_s"].agg(lambda t: pd.to_numeric(t).max())
        return set(slowest[slowest < cap].index)

    assert set(plan.ablation_variants) == cheap("lfmc_ablation", "variant", "default")
    assert set(plan.encoders) - {"tempcnn"} == cheap("lfmc_encoders", "encoder", "tempcnn")
    assert {c.variant for c in book_plan.configs("03_ablation", "quick") if c.method == "mdico"} == set(
        plan.ablation_variants)  # the full MDiCo is the main page's run
