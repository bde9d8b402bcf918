"""The provenance banner and the reproducibility tables (reporting/book/provenance.py)."""

from __future__ import annotations

import pandas as pd

from mdico_core.data.availability import Resolution
from mdico_core.reporting.book import provenance as prov


def _ran(**datasets: tuple[str, str]) -> dict[str, Resolution]:
    return {b: Resolution(b, reg, kind, "") for b, (reg, kind) in datasets.items()}


def _record(commit: str, dirty: bool = False) -> dict:
    return {"provenance": {"git_commit": commit, "git_dirty": dirty, "device": "cpu"}}


def test_provenance_banner_states_everything():
    recs = [_record("aaaaaaaaaaaa1111"), _record("bbbbbbbbbbbb", dirty=True)]
    text = prov.provenance_banner(
        "quick", _ran(croph_b=("algae_blooms_binary", "stand-in"), lfmc=("lfmc", "real")), [0, 1, 2], [0],
        runs=len(recs), versions=prov.record_versions(recs), n_folds=10, code_version="aaaaaaaaaaaa")
    assert "`quick`" in text and "folds 0, 1, 2 of 10" in text and "seeds 0" in text
    assert "2 runs shown" in text and "code version `aaaaaaaaaaaa`" in text
    assert "`bbbbbbbbbbbb+dirty`" in text  # runs made with another version are named
    assert "STAND-IN" in text and "croph_b = `algae_blooms_binary`" in text and "`lfmc`, real data" in text
    assert all(line.startswith(">") for line in text.splitlines())


def test_provenance_banner_without_stand_in_has_no_warning():
    text = prov.provenance_banner("paper", _ran(lfmc=("lfmc", "real")), None, None, code_version="x")
    assert "not the paper's benchmark" not in text and "the profile's" in text
    assert "folds official split" in prov.provenance_banner("paper", {}, [None], [0], code_version="x")


def test_record_versions_are_distinct_and_ordered():
    recs = [_record("c1"), _record("c1"), {"provenance": {}}, _record("c2", True)]
    assert prov.record_versions(recs) == ["c1", "c2+dirty"]


def test_runtime_and_environment_tables():
    recs = [{"config": {"dataset": "lfmc", "method": "mdico", "variant": "default"}, "wall_time_s": 10.0,
             "epochs_run": 4, **_record("c1")},
            {"config": {"dataset": "lfmc", "method": "mdico", "variant": "default"}, "wall_time_s": 20.0,
             "epochs_run": 6, **_record("c1")}]
    rt = prov.runtime_table(recs)
    assert rt.iloc[0][["runs", "total s", "mean s", "mean epochs"]].tolist() == [2, 30.0, 15.0, 5.0]
    env = prov.environment_table(recs).set_index("what")["value"]
    assert env["runs: device"] == "cpu" and env["runs: code version"] == "c1"
    assert prov.build_info(None) is None


def test_the_build_time_is_what_this_build_measured():
    from mdico_core.reporting.book.provenance import build_time_sentence

    build = pd.DataFrame([{"what": k, "value": str(v)} for k, v in {
        "profile": "smoke", "executor": "serial", "runs_trained": 78, "runs_reused": 0, "sweep_s": 50.2,
        "notebooks_s": 130.8, "slowest_pages": "05_encoders 13 s"}.items()])
    text = build_time_sentence(build)
    assert "its sweep took 50.2 s (78 runs trained, 0 reused" in text and "took 130.8 s (slowest: 05_encoders 13 s)" in text
    assert "`" not in text and "--" not in text  # glued as plain text: no Markdown, no dashes to typeset
    assert build_time_sentence(None).startswith("This page was not executed by mdico book")


def test_profiles_table_says_what_the_book_runs_at_each_profile(monkeypatch):
    """The profiles table states each profile's folds and, beside them, the runs the book plan makes at it
    (fewer folds where an archive is the evidence), so the two can no longer contradict each other."""
    from types import SimpleNamespace

    from mdico_core.reporting.book import book_plan

    cfg = [SimpleNamespace(dataset="lfmc", fold=f, seed=0) for f in range(5)] + [
        SimpleNamespace(dataset="algae_blooms", fold=0, seed=0), SimpleNamespace(dataset="tsaits", fold=None, seed=0)]
    assert prov.planned_runs(cfg) == ("7 runs: lfmc folds 0–4 × seed 0; algae_blooms fold 0 × seed 0; "
                                      "tsaits official split × seed 0")
    monkeypatch.setattr(book_plan, "all_configs", lambda name: cfg if name == "quick" else cfg[:1])
    table = prov.profiles_table().set_index("profile")
    assert table.loc["quick", "the book's runs at it"] == prov.planned_runs(cfg)
    from mdico_core.experiments.profile import PROFILES

    paper = PROFILES["paper"]
    assert table.loc["paper", "folds"] == f"{min(paper.folds)}–{max(paper.folds)} of {paper.n_folds}"
    assert "the book's runs at it" not in prov.profiles_table(book=False)
