"""A notebook's view of the results store (reporting/page.py)."""

from __future__ import annotations

import pytest

from mdico_core.reporting import availability, book_plan
from mdico_core.reporting.page import page


@pytest.fixture
def toy_world(monkeypatch):
    monkeypatch.setattr(availability, "dataset_available", lambda name: name.startswith("toy_"))


def test_page_reads_only_its_runs(toy_world, tmp_path):
    pg = page("07_loss_curves", "smoke", results_dir=str(tmp_path), run=False)
    assert pg.report is None and pg.records() == [] and pg.frame().empty and pg.failures().empty
    assert set(pg.datasets) == set(book_plan.book_plan("smoke").loss_datasets)
    assert "Profile `smoke`" in pg.banner()


def test_page_targets_merge_benchmarks_sharing_a_stand_in(monkeypatch, tmp_path):
    monkeypatch.setattr(availability, "dataset_available", lambda name: name in ("lfmc", "presto_lfmc"))
    pg = page("06_tsne", "quick", "tsaits,lfmc", results_dir=str(tmp_path), run=False)
    assert pg.targets() == [("TSAITS", "tsaits", "absent"), ("LFMC", "lfmc", "real")]
    pg.datasets = {"a": ("presto_lfmc", "stand-in"), "b": ("presto_lfmc", "stand-in"), "c": ("c", "absent")}
    assert pg.targets() == [("a / b", "presto_lfmc", "stand-in"), ("c", "c", "absent")]


def test_page_lists_its_failed_runs(toy_world, tmp_path):
    from mdico_core.experiments import ResultsStore

    pg = page("07_loss_curves", "smoke", results_dir=str(tmp_path), run=False)
    ResultsStore(tmp_path).save_failure(pg.configs[0], "RuntimeError: boom")
    fails = pg.failures()
    assert fails["message"].tolist() == ["RuntimeError: boom"]
    assert fails["run"].iloc[0].startswith(f"{pg.configs[0].dataset} mdico tempcnn paper fold 0 seed 0")
