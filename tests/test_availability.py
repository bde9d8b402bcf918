"""What runs for each paper benchmark, and why (mdico_core/data/availability.py), on the registry's typed fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdico_core.data import DATASETS, DatasetEntry, get_dataset_entry, registered
from mdico_core.data import availability as av
from mdico_core.data.synthetic import make_synthetic

BENCHMARKS = ("croph_b", "croph_m", "tsaits", "lfmc")


def test_the_resolution_rule(present_only):
    present = {"lfmc", "algae_blooms", "algae_blooms_binary", "toy_multilabel", "toy_binary"}
    present_only(lambda name: name in present)
    got = {b: (r.dataset, r.kind) for b, r in av.resolve_all(BENCHMARKS).items()}
    assert got == {"croph_b": ("algae_blooms_binary", "stand-in"), "croph_m": ("algae_blooms", "stand-in"),
                   "tsaits": ("toy_multilabel", "synthetic"), "lfmc": ("lfmc", "real")}
    assert av.resolve("tsaits", allow_synthetic=False).kind == "absent"
    assert av.resolve("algae_blooms").kind == "stand-in" and av.resolve("toy_binary").kind == "synthetic"
    present -= {"algae_blooms"}
    res = av.resolve("croph_m", allow_synthetic=False)
    assert (res.dataset, res.kind) == ("croph_m", "absent") and "no stand-in" in res.reason
    assert "algae_blooms_binary is present" in av.resolve("croph_b").reason
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        av.resolve("nope")


@pytest.mark.parametrize("here", [set(), {"algae_blooms"}, {"algae_blooms", "algae_blooms_binary"},
                                  {"algae_blooms_binary"}])
@pytest.mark.parametrize("synthetic", [True, False])
def test_the_binary_benchmark_never_runs_on_multiclass_data(present_only, here, synthetic):
    present_only(lambda name: name in here)
    for bench in BENCHMARKS:
        res = av.resolve(bench, synthetic)
        if res.kind != "absent":
            assert get_dataset_entry(res.dataset).task == get_dataset_entry(bench).task, res


def test_every_replacement_has_its_benchmarks_task():
    for name, e in registered().items():
        if e.kind in ("stand-in", "synthetic"):
            assert e.stand_in_for in registered(), name
            assert e.task == registered()[e.stand_in_for].task, name
    assert av.stand_ins("croph_b") == ["algae_blooms_binary"] and av.stand_ins("croph_m") == ["algae_blooms"]


def test_a_stand_in_of_another_task_is_refused(monkeypatch, present_only):
    present_only(lambda name: name == "wrong")
    monkeypatch.setitem(DATASETS, "wrong", DatasetEntry(
        "wrong", lambda: make_synthetic("multiclass"), task="multiclass", kind="stand-in", stand_in_for="croph_b"))
    with pytest.raises(ValueError, match=r"'wrong' \(multiclass\) is registered as a stand-in for 'croph_b' \(binary\)"):
        av.resolve("croph_b")


def test_entries_are_typed_and_checked():
    ok = DatasetEntry("x", lambda: None, kind="synthetic", stand_in_for="lfmc")
    assert ok.views_as == {} and ok.samples is None and ok.presence is None
    with pytest.raises(ValueError, match="kind 'nope'"):
        DatasetEntry("x", lambda: None, kind="nope")
    with pytest.raises(ValueError, match="pass both kind='stand-in' and stand_in_for"):
        DatasetEntry("x", lambda: None, kind="stand-in")
    with pytest.raises(ValueError, match="pass both kind='stand-in' and stand_in_for"):
        DatasetEntry("x", lambda: None, stand_in_for="lfmc")
    assert get_dataset_entry("presto_lfmc").views_as == {"S2": "L8"}
    assert get_dataset_entry("toy_regression").kind == "synthetic"  # by its entry, not by its name


def test_benchmark_of():
    assert [av.benchmark_of(n) for n in ("lfmc", "algae_blooms_binary", "algae_blooms", "presto_lfmc")] == [
        "lfmc", "croph_b", "croph_m", "lfmc"]
    assert av.benchmark_of("toy_binary") is None and av.benchmark_of("nope") is None


# ---------------------------------------------------------------------------------- the cache
def test_absent_files_say_how_to_get_them(empty_cache: Path):
    a = av.availability("lfmc")
    assert not a.present and set(a.missing) == set(get_dataset_entry("lfmc").files)
    assert "github.com/kkraoj/lfmc_from_sar" in a.how_to_get and av.how_to_get("lfmc") == a.how_to_get
    assert av.availability("toy_binary").present  # nothing to fetch


def test_a_file_of_the_wrong_size_is_not_present(tmp_path: Path, monkeypatch, real_data):
    from mdico_core.data import cache

    paths = real_data(*get_dataset_entry("lfmc").files)  # from the configured cache, then copied
    empty_cache = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(empty_cache))
    cache.clear_memo()
    for name, p in paths.items():
        (empty_cache / name).parent.mkdir(parents=True, exist_ok=True)
        (empty_cache / name).write_bytes(p.read_bytes())
    assert av.availability("lfmc").present and av.availability("lfmc", check=True).present
    first = get_dataset_entry("lfmc").files[0]
    (empty_cache / first).write_bytes(b"truncated")
    a = av.availability("lfmc")
    assert not a.present and a.missing == (first,)


def test_presence_hooks_and_folders(monkeypatch, tmp_path):
    def broken() -> tuple[bool | None, str]:
        raise OSError("no such mount")

    monkeypatch.setitem(DATASETS, "hooked", DatasetEntry("hooked", lambda: None, presence=broken,
                                                         how_to_get="mount the share"))
    a = av.availability("hooked")
    assert not a.present and "presence check failed: no such mount" in a.note and a.how_to_get == "mount the share"
    monkeypatch.setitem(DATASETS, "mine", DatasetEntry("mine", lambda: None, folder=str(tmp_path / "gone")))
    assert not av.availability("mine").present and "does not exist" in av.availability("mine").note
    (tmp_path / "gone").mkdir()
    assert av.availability("mine").present


def test_real_stand_ins_resolve_from_the_real_cache(real_data):
    from mdico_core.data.presto import ALGAE_FILES

    real_data(*ALGAE_FILES)
    res = av.resolve("croph_b")
    if res.kind == "real":
        pytest.skip("the CropHarvest benchmark is present here")
    assert (res.dataset, res.kind) == ("algae_blooms_binary", "stand-in")
    assert np.isin(av.resolve("croph_m").dataset, ["algae_blooms"])
