"""A notebook's view of the results store (reporting/book/page.py)."""

from __future__ import annotations

import re

import pytest

from mdico_core.data.availability import Resolution
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.page import page


@pytest.fixture
def toy_world(present_only):
    present_only(lambda name: name.startswith("toy_"))


def test_page_reads_only_its_runs(toy_world, tmp_path):
    pg = page("07_loss_curves", "smoke", results_dir=str(tmp_path))
    assert pg.records() == [] and pg.frame().empty and pg.failures().empty
    assert set(pg.datasets) == set(book_plan.book_plan("smoke").loss_datasets)
    assert "Profile `smoke`" in pg.banner()


def test_page_targets_merge_benchmarks_sharing_a_dataset(present_only, tmp_path):
    present_only(lambda name: name in ("lfmc", "algae_blooms", "algae_blooms_binary"))
    pg = page("06_tsne", "quick", results_dir=str(tmp_path))
    assert pg.targets() == [("TSAITS", "tsaits", "absent"), ("CropH-b", "algae_blooms_binary", "stand-in"),
                            ("CropH-m", "algae_blooms", "stand-in"), ("LFMC", "lfmc", "real")]
    assert {c.dataset for c in pg.configs} == {"algae_blooms_binary", "algae_blooms", "lfmc"}
    smoke = page("06_tsne", "smoke", "croph_b,croph_m", results_dir=str(tmp_path))
    assert [t[1:] for t in smoke.targets()] == [("algae_blooms_binary", "stand-in"), ("algae_blooms", "stand-in")]
    pg.datasets = {b: Resolution(b, "toy_binary", "synthetic", "") for b in ("croph_b", "x")}
    assert pg.targets() == [("CropH-b / x", "toy_binary", "synthetic")]


def test_page_lists_its_failed_runs(toy_world, tmp_path):
    from mdico_core.experiments import ResultsStore

    pg = page("07_loss_curves", "smoke", results_dir=str(tmp_path))
    ResultsStore(tmp_path).save_failure(pg.configs[0], "RuntimeError: boom")
    fails = pg.failures()
    assert fails["message"].tolist() == ["RuntimeError: boom"]
    assert fails["run"].iloc[0].startswith(f"{pg.configs[0].dataset} mdico tempcnn paper fold 0 seed 0")


# ---------------------------------------------------------------------------------- read-only pages
def test_an_empty_store_says_which_command_fills_it(toy_world, tmp_path):
    pg = page("06_tsne", "smoke", results_dir=str(tmp_path))
    assert pg.missing() == pg.configs and pg.frame().empty
    banner = pg.banner()
    assert f"{len(pg.configs)} of {len(pg.configs)} planned runs are not in the results store" in banner
    assert f"`mdico book --profile smoke --only 06_tsne --results {tmp_path} --sweep-only`" in banner
    assert not any(tmp_path.iterdir())  # nothing was trained, nothing written


def test_fill_commands():
    from mdico_core.reporting.book.page import fill_command

    assert fill_command("02_main_results", "quick", "lfmc") == "mdico book --profile quick --only " \
                                                              "02_main_results_lfmc --sweep-only"
    assert fill_command("05_encoders", "paper", None, (5, 6), (0, None), "/r") == (
        "mdico book --profile paper --only 05_encoders --seeds 5,6 --folds 0,official --results /r --sweep-only")
    assert fill_command("07_loss_curves", "quick", "croph_m,lfmc,croph_b").startswith(
        "mdico book --profile quick --only 07_loss_curves")  # the book plan's own datasets
    assert fill_command("07_loss_curves", "quick", "lfmc") == (
        "python -c \"from mdico_core.bookbuild import fill_store; "
        "fill_store('07_loss_curves', 'quick', dataset='lfmc')\"")
    assert fill_command("05_encoders", "quick", results_dir="/my results").endswith(" --results '/my results' --sweep-only")


class _Captured(Exception):
    pass


@pytest.fixture
def no_training(monkeypatch):
    """`sweep` replaced by a recorder: the run ids a command would train, and nothing trained."""
    from mdico_core.experiments import executors

    seen: list[set[str]] = []

    def fake_sweep(cfgs, **kwargs):
        seen.append({c.run_id for c in cfgs})
        raise _Captured

    monkeypatch.setattr(executors, "sweep", fake_sweep)
    return seen


@pytest.mark.parametrize(("notebook", "dataset", "seeds", "folds"), [
    ("06_tsne", None, None, None), ("02_main_results", "croph_b", "3", None), ("03_ablation", None, None, "0,1"),
    ("08_prediction_maps", "lfmc", None, None)])
def test_the_fill_command_trains_exactly_the_pages_runs(toy_world, no_training, tmp_path, notebook, dataset,
                                                        seeds, folds):
    import shlex

    from mdico_core.cli import main

    pg = page(notebook, "smoke", dataset, seeds, folds, results_dir=str(tmp_path))
    cmd = pg.fill_command()
    with pytest.raises(_Captured):
        if cmd.startswith("mdico book "):
            main(shlex.split(cmd)[1:])
        else:
            exec(shlex.split(cmd)[2], {})  # python -c "<code>"
    assert no_training == [{c.run_id for c in pg.configs}]


def test_live_and_archived_pages_share_one_interface(toy_world, tmp_path):
    import inspect

    from mdico_core.experiments import ResultsStore
    from mdico_core.reporting.book.archive import ArchivedPage, archived_page, export_runs
    from mdico_core.reporting.book.page import Page, ResultsPage

    members = [m for m in vars(ResultsPage) if not m.startswith("_")] + list(ResultsPage.__annotations__)
    assert set(members) >= {"datasets", "store", "configs_where", "frame", "failures", "missing", "targets",
                            "code_versions", "banner"}
    for cls in (Page, ArchivedPage):
        for m in members:
            if callable(getattr(ResultsPage, m, None)):
                want = inspect.signature(getattr(ResultsPage, m))
                have = inspect.signature(getattr(cls, m))
                assert list(have.parameters) == list(want.parameters), f"{cls.__name__}.{m}{have} != {want}"

    live = page("07_loss_curves", "smoke", "lfmc", results_dir=str(tmp_path / "store"))
    cfg = live.configs[0]
    store = ResultsStore(tmp_path / "store")
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "task": "regression",
                "metrics": {"S1": {"r2": 0.5}}, "provenance": {"profile": "smoke", "git_commit": "abc"}})
    export_runs(cfg.dataset, tmp_path / "a.csv", profile="smoke", store=store)
    for pg in (live, archived_page(tmp_path / "a.csv")):
        assert isinstance(pg, ResultsPage)
        assert "Provenance" in pg.banner() and isinstance(pg.missing(), list) and len(pg.targets()) >= 1
        assert pg.code_versions() == ["abc"] and len(pg.frame()) == 1 and pg.failures().empty
        assert [c.run_id for c in pg.configs_where(method=cfg.method, fold=cfg.fold)][:1] == [cfg.run_id]
        assert pg.store.history(cfg).empty


def test_every_page_says_the_exact_commands_that_rerun_it(toy_world, tmp_path, monkeypatch):
    from mdico_core.reporting.book.page import rerun_commands

    monkeypatch.setenv("MDICO_RESULTS_DIR", str(tmp_path))
    pg = page("02_main_results", "smoke", "lfmc", 7, "0,official")
    text = pg.banner()
    assert ("`mdico book --profile smoke --only 02_main_results_lfmc --seeds 7 --folds 0,official`" in text)
    assert ("`papermill notebooks/02_main_results.ipynb 02_main_results_lfmc.ipynb -k mdico -p profile smoke "
            "-p dataset lfmc -p seeds 7 -p folds 0,official`") in text
    assert str(tmp_path) not in text and "`$MDICO_RESULTS_DIR`" in text  # the store by its variable's name
    assert "-p datasets croph_b,lfmc" in rerun_commands("06_tsne", "quick", ["croph_b", "lfmc"])
    archived = page("02_main_results", "smoke", "lfmc", archive="data/archived_runs/lfmc_paper.csv").rerun_commands()
    assert "`mdico book --profile smoke --only 02_main_results_lfmc_archived`" in archived
    assert "-p archive data/archived_runs/lfmc_paper.csv" in archived and "-p profile smoke" in archived
    assert "reads the archive and the store" in archived
    ablation = page("03_ablation", "smoke", archive="lfmc_ablation").rerun_commands()  # an analysis page's archive
    assert "--only 03_ablation`" in ablation and "-p archive lfmc_ablation" in ablation
    other = rerun_commands("05_encoders", "quick", results_dir=str(tmp_path / "my store"))
    assert "--results '$MDICO_RESULTS_DIR/my store'" not in other and "--results $MDICO_RESULTS_DIR/'my store'" in other


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seeds": "x"}, "seeds = 'x'"), ({"folds": [0, "y"]}, "folds = [0, 'y']"),
    ({"profile": "nope"}, "unknown profile 'nope'"), ({"dataset": "nope"}, "unknown dataset 'nope'"),
])
def test_a_value_no_page_can_mean_is_one_line(toy_world, tmp_path, kwargs, message):
    from mdico_core._util import ParameterError

    args = {"notebook": "07_loss_curves", "profile": "smoke", "results_dir": str(tmp_path), **kwargs}
    with pytest.raises(ParameterError, match=re.escape(message)) as err:
        page(**args)
    assert len(err.value._render_traceback_()) == 1


def test_runs_that_failed_alike_are_one_row_with_their_folds_and_seeds():
    from mdico_core.reporting.book.page import failure_table

    base = {"dataset": "mfeat", "method": "anysat", "variant": "default", "encoder": "mlp", "protocol": "paper"}
    grid = [base | {"fold": f, "seed": s} for f in range(10) for s in range(3)]
    dml = [base | {"method": "dml", "fold": 0, "seed": 0}, base | {"method": "dml", "fold": 1, "seed": 2}]
    table = failure_table([(c, "not_reproduced", "needs weights") for c in grid]
                          + [(c, "failed", "boom") for c in dml]
                          + [(base | {"method": "dml", "fold": 2, "seed": 0}, "failed", "other")])
    assert table["run"].tolist() == [
        "mfeat anysat mlp paper folds 0–9 × seeds 0–2, 30 runs",
        "mfeat dml mlp paper fold 0 seed 0; fold 1 seed 2",  # not a full grid: each run named
        "mfeat dml mlp paper fold 2 seed 0",  # another message: its own row
    ]
    assert table["status"].tolist() == ["not_reproduced", "failed", "failed"]
    # the same runs under both settings are two grids, not one list of a hundred run names
    both = failure_table([(c | {"settings": s}, "not_reproduced", "needs weights") for s in ("common", "original")
                          for c in grid])
    assert both["run"].tolist() == ["mfeat anysat mlp paper folds 0–9 × seeds 0–2, 30 runs",
                                    "mfeat anysat mlp paper (original settings) folds 0–9 × seeds 0–2, 30 runs"]
    holed = failure_table([(c, "failed", "boom") for c in grid[:7]])
    assert holed["run"].tolist() == ["mfeat anysat mlp paper 7 runs of folds 0–2 and seeds 0–2"]


def test_a_live_page_of_an_archived_benchmark_points_to_its_evidence():
    from mdico_core.reporting.book.page import spot_check_note

    note = spot_check_note("lfmc", "lfmc", None)
    assert "`lfmc_paper`" in note and "(02_main_results_lfmc_archived.html)" in note
    assert spot_check_note("croph_b", "algae_blooms_binary", None).count("02_main_results_croph_b_archived") == 1
    assert spot_check_note("lfmc", "lfmc", "lfmc_paper") == ""  # the archived page itself
    assert spot_check_note("croph_b", "croph_b", None) == ""  # the real CropHarvest: its archive is the stand-in's
    assert spot_check_note("tsaits", "tsaits", None) == ""
