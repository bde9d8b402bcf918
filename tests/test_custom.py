"""Your own data: from_arrays, from_folder, register, $MDICO_DATASETS; and `mdico data info`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdico_core.data import DataValidationError, load_dataset
from mdico_core.data.custom import (
    ENV_DATASETS,
    from_arrays,
    from_folder,
    read_series_csv,
    register,
    register_from_env,
)
from mdico_core.data.info import describe, describe_all

N = 12
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """Registrations made by a test are undone after it."""
    from mdico_core import data

    data._import_builtin_loaders()
    monkeypatch.setattr(data, "DATASETS", dict(data.DATASETS))
    monkeypatch.setattr(data, "_LOADED", {})
    import mdico_core.data.custom as custom

    monkeypatch.setattr(custom, "DATASETS", data.DATASETS)
    return data.DATASETS


def _folder(root: Path, task: str = "multiclass", yaml: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "radar.npy", rng.standard_normal((N, 5, 2)))  # float64: converted
    # optical.csv: two bands over three dates, columns in a shuffled order
    cols = {f"{b}_t{t}": 100 * i + t + np.arange(N) / 100 for t in (2, 0, 1) for i, b in enumerate(("red", "nir"))}
    pd.DataFrame(cols).to_csv(root / "optical.csv", index=False)
    labels = np.array(["wheat", "maize", "rice"])[np.arange(N) % 3]
    pd.DataFrame({"crop": labels}).to_csv(root / "target.csv", index=False)
    pd.DataFrame({"lat": np.linspace(0, 1, N), "lon": np.linspace(2, 3, N)}).to_csv(root / "metadata.csv", index=False)
    (root / "README.md").write_text("my data")
    if yaml is not None:
        (root / "dataset.yaml").write_text(yaml)
    return root


def test_from_arrays_converts_and_validates() -> None:
    x = np.arange(N * 4 * 3).reshape(N, 4, 3)  # int: converted to float32
    ds = from_arrays("mine", {"S1": x, "S2": x[..., :1]}, ["b", "a", "c"] * 4, "multiclass",
                     metadata={"site": range(N)})
    assert ds.modalities["S1"].dtype == np.float32 and ds.class_names == ["a", "b", "c"]
    assert ds.target.tolist()[:3] == [1, 0, 2] and list(ds.metadata["site"]) == list(range(N))
    assert from_arrays("r", {"S1": x}, np.arange(N)[:, None], "regression").target.shape == (N,)
    with pytest.raises(DataValidationError, match="11 samples but the target has 12"):
        from_arrays("bad", {"S1": x[:-1]}, np.zeros(N), "regression")
    with pytest.raises(DataValidationError, match="add a time axis"):
        from_arrays("bad", {"S1": x[:, 0]}, np.zeros(N), "regression")
    with pytest.raises(DataValidationError, match="whole class indices"):
        from_arrays("bad", {"S1": x}, np.full(N, 0.5), "binary")


def test_csv_convention(tmp_path: Path) -> None:
    x = read_series_csv(_folder(tmp_path / "d") / "optical.csv")
    assert x.shape == (N, 3, 2)  # (N, T, C): bands in first-seen order red, nir
    assert np.allclose(x[:, :, 0], (np.arange(3)[None] + np.arange(N)[:, None] / 100))
    assert np.allclose(x[:, :, 1], 100 + np.arange(3)[None] + np.arange(N)[:, None] / 100)
    pd.DataFrame({"red_t0": [1.0], "red_t2": [2.0]}).to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(DataValidationError, match="missing"):
        read_series_csv(tmp_path / "gap.csv")
    pd.DataFrame({"red": [1.0]}).to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(DataValidationError, match="<band>_t<k>"):
        read_series_csv(tmp_path / "plain.csv")


def test_from_folder(tmp_path: Path) -> None:
    ds = from_folder(_folder(tmp_path / "farm", yaml="task: multiclass\nname: farms\n"))
    assert ds.name == "farms" and ds.task == "multiclass" and set(ds.shapes) == {"radar", "optical"}
    assert ds.shapes == {"optical": (3, 2), "radar": (5, 2)} and ds.class_names == ["maize", "rice", "wheat"]
    assert list(ds.metadata.columns) == ["lat", "lon"]
    assert from_folder(tmp_path / "farm", task="multiclass", name="other").name == "other"


@pytest.mark.parametrize("problem, message", [
    ("no_target", "no target.npy or target.csv"),
    ("mismatch", "sample counts differ"),
    ("extension", "unknown extension '.tif'"),
    ("no_task", "no task given"),
])
def test_from_folder_errors(tmp_path: Path, problem: str, message: str) -> None:
    folder = _folder(tmp_path / "d", yaml=None if problem == "no_task" else "task: multiclass\n")
    if problem == "no_target":
        (folder / "target.csv").unlink()
    elif problem == "mismatch":
        np.save(folder / "radar.npy", np.zeros((N + 1, 5, 2)))
    elif problem == "extension":
        (folder / "S3.tif").write_bytes(b"")
    with pytest.raises(DataValidationError, match=message):
        from_folder(folder)


def test_register_makes_data_loadable_by_name(tmp_path: Path, clean_registry) -> None:
    ds = from_arrays("mine", {"S1": np.zeros((N, 4, 2)), "S2": np.ones((N, 4, 3))}, np.arange(N) % 2, "binary")
    register(ds)
    assert load_dataset("mine") is ds
    register(_folder(tmp_path / "farm", yaml="task: multiclass\n"), name="farm")
    assert load_dataset("farm").shapes["optical"] == (3, 2)
    with pytest.raises(ValueError, match="already registered"):
        register(ds, name="lfmc")
    row = describe("farm")
    assert row["present"] and row["samples"] == N and row["modalities"]["radar"] == (5, 2)


def test_environment_registration(tmp_path: Path, clean_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path / "many" / "farm_a", yaml="task: multiclass\n")
    _folder(tmp_path / "many" / "farm_b", yaml="task: multiclass\nname: farm_b2\n")
    _folder(tmp_path / "elsewhere" / "c")  # no dataset.yaml: the task comes from the YAML list
    (tmp_path / "datasets.yaml").write_text("datasets:\n  crops_c: {path: elsewhere/c, task: multiclass}\n")
    _folder(tmp_path / "lfmc", yaml="task: multiclass\n")  # clashes with a benchmark
    spec = os.pathsep.join(str(p) for p in (tmp_path / "many", tmp_path / "datasets.yaml", tmp_path / "lfmc"))
    with pytest.warns(UserWarning, match="clashes"):
        names = register_from_env(spec)
    assert names == ["farm_a", "farm_b2", "crops_c"]
    assert load_dataset("crops_c").task == "multiclass" and len(load_dataset("farm_b2")) == N
    assert clean_registry["lfmc"].paper_name == "LFMC"  # the benchmark was not replaced


def test_a_fresh_worker_process_finds_the_dataset(tmp_path: Path) -> None:
    _folder(tmp_path / "farm", yaml="task: multiclass\nname: farm_env\n")
    env = {**os.environ, ENV_DATASETS: str(tmp_path / "farm"), "OMP_NUM_THREADS": "1"}
    code = "from mdico_core.data import load_dataset; ds = load_dataset('farm_env'); print(len(ds), ds.task)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(N), "multiclass"]


def test_describe_never_crashes_on_absent_data(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDICO_TREESATAI_DIR", raising=False)
    monkeypatch.delenv("MDICO_CROPHARVEST_DIR", raising=False)
    df = describe_all()
    assert {"croph_b", "croph_m", "tsaits", "algae_blooms", "presto_lfmc", "lfmc"} <= set(df["name"])
    absent = df.set_index("name").loc[["croph_b", "croph_m", "tsaits", "algae_blooms", "presto_lfmc"]]
    assert not absent["present"].any() and absent["how_to_get"].str.len().gt(0).all()
    row = describe("croph_m")  # load=True, but absent: reported, not raised
    assert row["samples"] == 29_642 and row["counts_from"] == "documentation"
    assert "zenodo.org/records/7257688" in row["how_to_get"]
    assert "IGNF/TreeSatAI-Time-Series" in describe("tsaits")["how_to_get"]
    assert describe("algae_blooms")["stand_in_for"] == "croph_m"
    assert df.set_index("name").loc["toy_binary", "present"]  # nothing to download


@pytest.mark.parametrize("modalities, target, task, message", [
    ({"S1": np.zeros((N, 0, 2))}, np.zeros(N), "regression", r"modality 'S1'.*axis of length 0"),
    ({"S1": np.zeros((N, 4, 0))}, np.zeros(N), "regression", r"modality 'S1'.*axis of length 0"),
    ({"S1": np.zeros((0, 4, 2))}, np.zeros(0), "regression", "no samples"),
    ({"S1": np.zeros((0, 4, 2))}, np.zeros(0, np.int64), "multiclass", "no samples"),
    ({"S1": np.ones((N, 4, 2)) * (1 + 2j)}, np.zeros(N), "regression", r"'S1' is complex.*np.abs"),
    ({"S1": np.zeros((N, 4, 2))}, np.full(N, 1 + 1j), "regression", "target is complex"),
    ({"S1": np.zeros((N, 4, 2))}, np.array(["wet", "dry"] * (N // 2)), "regression",
     r"regression target must be numbers; got text such as 'wet'"),
    ({"S1": np.zeros((N, 4, 2))}, np.array([["a", "b"]] * N), "multilabel", "multilabel target must be 0/1"),
])
def test_from_arrays_names_every_malformed_input(modalities, target, task, message) -> None:
    with pytest.raises(DataValidationError, match=message):
        from_arrays("bad", modalities, target, task)


@pytest.mark.parametrize("problem, message", [
    ("object_modality", r"radar.npy holds Python objects.*np.save"),
    ("object_target", r"target.npy holds Python objects.*np.save"),
    ("typo", r"unknown key 'nan_polcy'.*did you mean 'nan_policy'"),
])
def test_from_folder_names_unreadable_files_and_unknown_keys(tmp_path: Path, problem: str, message: str) -> None:
    folder = _folder(tmp_path / "d", yaml="task: multiclass\n")
    if problem == "object_modality":
        np.save(folder / "radar.npy", np.array([[1.0, None]] * N, dtype=object), allow_pickle=True)
    elif problem == "object_target":
        (folder / "target.csv").unlink()
        np.save(folder / "target.npy", np.array(["a", 1] * (N // 2), dtype=object), allow_pickle=True)
    else:
        (folder / "dataset.yaml").write_text("task: multiclass\nnan_polcy: zero\n")
    with pytest.raises(DataValidationError, match=message):
        from_folder(folder)


def test_unknown_keys_in_a_datasets_yaml_are_named(tmp_path: Path, clean_registry) -> None:
    _folder(tmp_path / "c")
    (tmp_path / "datasets.yaml").write_text("datasets:\n  crops_c: {path: c, task: multiclass, lisence: CC-BY}\n")
    with pytest.raises(DataValidationError, match=r"unknown key 'lisence'.*did you mean 'licence'"):
        register_from_env(str(tmp_path / "datasets.yaml"))
