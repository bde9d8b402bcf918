"""TreeSatAI-TS loader: the real sample and generated plots in the official layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from mdico_core.data import cache
from mdico_core.data.treesatai import (
    ENV_ROOT,
    GENERA,
    LABELS,
    S2_LENGTH,
    TEST_LIST,
    TRAIN_LIST,
    load_treesatai,
)

SAMPLE = "Abies_alba_1_1005_WEFL_NLF"


def _s2(k: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    # value = 10000 * plot + 100 * date + 10 * band + pixel row (identifies every entry)
    d, b, h, w = np.meshgrid(np.arange(t), np.arange(10), np.arange(6), np.arange(6), indexing="ij")
    data = (10000 * k + 100 * d + 10 * b + h + 0.01 * w).astype(np.float32)
    mask = np.zeros((t, 10, 6, 6), np.float32)
    mask[:, 0], mask[:, 1] = 5.0 + k, 50.0 + k  # snow, cloud probability
    return data, mask


def _plot(root: Path, name: str, k: int, t: int, tif: bool = True, h5: str | None = "plain") -> None:
    stem = name[:-4]
    if tif:
        img = np.full((32, 32, 4), k, np.uint8)
        img[..., 3] = 200  # NIR band differs from RGB
        (root / "aerial").mkdir(exist_ok=True)
        tifffile.imwrite(root / "aerial" / name, img)
    if h5 is not None:
        (root / "sentinel-ts").mkdir(exist_ok=True)
        fname = f"{stem}.h5" if h5 == "plain" else f"{stem}_2019.h5"
        data, mask = _s2(k, t)
        with h5py.File(root / "sentinel-ts" / fname, "w") as f:
            f["sen-2-data"], f["sen-2-masks"] = data, mask
            f["sen-1-asc-data"] = np.zeros((3, 2, 6, 6), np.float32)


# name -> (label pairs, dates, split); plot k = position in this dict
PLOTS = {
    "Abies_alba_0_1_WEFL_NLF.tif": ([["Abies", 0.9], ["Larix", 0.05]], 5, "train"),  # Larix filtered (<= 0.07)
    "Fagus_sylvatica_0_2_WEFL_NLF.tif": ([["Fagus", 0.6], ["Quercus", 0.4]], S2_LENGTH, "train"),
    "Picea_abies_0_3_WEFL_NLF.tif": ([["Picea", 1.0]], 60, "train"),
    "Pinus_sylvestris_0_4_WEFL_NLF.tif": ([["Pinus", 0.07], ["Tilia", 0.03]], 30, "train"),  # no kept label
    "Cleared_0_5_WEFL_NLF.tif": ([["Cleared", 1.0]], 10, "test"),
    "Tilia_spec._0_6_WEFL_NLF.tif": ([["Tilia", 0.5], ["Acer", 0.5]], 20, "test"),
}


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Path]]:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    root = tmp_path / "tsaits"
    root.mkdir()
    for k, (name, (_, t, _)) in enumerate(PLOTS.items()):
        _plot(root, name, k, t, h5="year" if k == 2 else "plain")
    files = {"labels": tmp_path / "labels.json", "train": tmp_path / "train.lst", "test": tmp_path / "test.lst"}
    files["labels"].write_text(json.dumps({n: pairs for n, (pairs, _, _) in PLOTS.items()}))
    for split in ("train", "test"):  # CRLF, as TreeSatAI's own lists
        files[split].write_bytes("".join(f"{n}\r\n" for n, v in PLOTS.items() if v[2] == split).encode())
    return root, files


def test_labels_split_and_filtering(layout) -> None:
    root, files = layout
    ds = load_treesatai(root, label_files=files, val_fraction=0.0)
    names = ds.metadata["name"].tolist()
    assert "Pinus_sylvestris_0_4_WEFL_NLF.tif" not in names  # every genus <= 0.07: dropped
    assert len(ds) == 5 and ds.task == "multilabel" and ds.class_names == list(GENERA)
    rows = {n: set(np.array(GENERA)[ds.target[i] == 1]) for i, n in enumerate(names)}
    assert rows["Abies_alba_0_1_WEFL_NLF.tif"] == {"Abies"}  # Larix at 0.05 filtered out
    assert rows["Fagus_sylvatica_0_2_WEFL_NLF.tif"] == {"Fagus", "Quercus"}
    assert rows["Tilia_spec._0_6_WEFL_NLF.tif"] == {"Tilia", "Acer"}
    assert ds.split.tolist() == ["train"] * 3 + ["test"] * 2
    assert ds.nan_policy == "zero"


def test_s2_is_left_padded_and_flattened_hwc(layout) -> None:
    root, files = layout
    ds = load_treesatai(root, label_files=files)
    s2 = ds.modalities["S2"]
    assert s2.shape[1:] == (S2_LENGTH, 6 * 6 * 12)
    for i, name in enumerate(ds.metadata["name"]):
        k = list(PLOTS).index(name)
        t = PLOTS[name][1]
        assert ds.metadata["s2_dates"][i] == t
        x = s2[i].reshape(S2_LENGTH, 6, 6, 12)
        pad = S2_LENGTH - t
        assert np.isnan(x[:pad, ..., :10]).all() and (x[:pad, ..., 10:] == 0).all()  # data NaN, mask 0
        data, mask = _s2(k, t)
        assert np.array_equal(x[pad:, ..., :10], data.transpose(0, 2, 3, 1))
        assert np.array_equal(x[pad:, ..., 10:], mask[:, :2].transpose(0, 2, 3, 1))
        assert x[-1, 2, 3, 4] == data[-1, 4, 2, 3]  # feature (h * 6 + w) * 12 + c


def test_aerial_band_axis_first_and_pooling(layout) -> None:
    root, files = layout
    ds = load_treesatai(root, label_files=files)
    a = ds.modalities["aerial"]
    assert a.shape[1:] == (4, 32, 32) and a.dtype == np.float32
    assert (a[:, 3] == 200).all() and (a[0, :3] == list(PLOTS).index(ds.metadata["name"][0])).all()
    small = load_treesatai(root, label_files=files, aerial_size=8)
    assert small.modalities["aerial"].shape[1:] == (4, 8, 8)
    assert np.allclose(small.modalities["aerial"].mean(axis=(2, 3)), a.mean(axis=(2, 3)))


def test_validation_is_carved_from_train_with_a_seed(layout) -> None:
    root, files = layout
    a = load_treesatai(root, label_files=files, val_fraction=0.34, seed=1)
    b = load_treesatai(root, label_files=files, val_fraction=0.34, seed=1)
    assert (a.split == "val").sum() == 1 and (a.split == "test").sum() == 2
    assert a.split.tolist() == b.split.tolist()
    tr, va, te = a.split_indices(None)
    assert len(tr) == 2 and len(va) == 1 and len(te) == 2
    (root / "split").mkdir()
    (root / "split" / "val_filenames.lst").write_text("Picea_abies_0_3_WEFL_NLF.tif\n")
    c = load_treesatai(root, label_files=files, val_fraction=0.34, seed=1)
    assert c.metadata["name"][c.split == "val"].tolist() == ["Picea_abies_0_3_WEFL_NLF.tif"]


def test_missing_files_raise_or_skip(layout) -> None:
    root, files = layout
    (root / "sentinel-ts" / "Fagus_sylvatica_0_2_WEFL_NLF.h5").unlink()
    (root / "aerial" / "Cleared_0_5_WEFL_NLF.tif").unlink()
    with pytest.raises(FileNotFoundError, match="2 listed") as err:
        load_treesatai(root, label_files=files)
    assert "Fagus_sylvatica_0_2_WEFL_NLF.tif (no .h5)" in str(err.value)
    assert "Cleared_0_5_WEFL_NLF.tif (no .tif)" in str(err.value) and "missing='skip'" in str(err.value)
    ds = load_treesatai(root, label_files=files, missing="skip")
    assert len(ds) == 3 and "Fagus_sylvatica_0_2_WEFL_NLF.tif" not in ds.metadata["name"].tolist()


def test_absent_imagery_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    with pytest.raises(cache.DatasetNotFoundError, match="IGNF/TreeSatAI-Time-Series"):
        load_treesatai()
    monkeypatch.setenv(ENV_ROOT, str(tmp_path / "nowhere"))
    with pytest.raises(cache.DatasetNotFoundError, match="does not exist"):
        load_treesatai()


def test_real_sample(real_data) -> None:
    paths = real_data(LABELS, TRAIN_LIST, TEST_LIST, f"treesatai_ts/sample/{SAMPLE}.h5",
                      f"treesatai_ts/sample/{SAMPLE}.tif")
    root = paths[f"treesatai_ts/sample/{SAMPLE}.h5"].parent  # the flat layout of the cache
    ds = load_treesatai(root, missing="skip")  # labels and official lists from the cache
    assert len(ds) == 1 and ds.metadata["name"][0] == f"{SAMPLE}.tif" and ds.split.tolist() == ["train"]
    assert set(np.array(GENERA)[ds.target[0] == 1]) == {"Abies", "Fagus"}
    assert ds.shapes == {"S2": (146, 432), "aerial": (4, 304, 304)}
    x = ds.modalities["S2"][0].reshape(146, 6, 6, 12)
    with h5py.File(paths[f"treesatai_ts/sample/{SAMPLE}.h5"], "r") as f:
        raw = f["sen-2-data"][:]
    assert ds.metadata["s2_dates"][0] == 146 and not np.isnan(x).any()
    assert np.array_equal(x[..., :10], raw.transpose(0, 2, 3, 1))
    img = tifffile.imread(paths[f"treesatai_ts/sample/{SAMPLE}.tif"])  # (304, 304, 4) channels last
    assert np.array_equal(ds.modalities["aerial"][0], img.transpose(2, 0, 1).astype(np.float32))
