"""CropHarvest loader: the real download -> checksum -> safe extraction -> npz path, on a fixture.

The fixture is written in the release layout (labels.geojson with CropHarvest's field names,
``features/arrays/{index}_{dataset}.h5`` with key ``array`` (12, 18)), packed as
features.tar.gz, and served from a ``file://`` URL that replaces the Zenodo URL in the registry,
so `cache.fetch` really downloads and verifies it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mdico_core.data import cache, load_dataset, registry
from mdico_core.data.cropharvest import (
    ARCHIVE,
    BANDS,
    CROP_CLASSES,
    ENV_ROOT,
    LABELS,
    S2_BANDS,
    load_cropharvest,
    safe_extract,
)
from mdico_core.data.dataset import DataValidationError

# (dataset, index, is_crop, classification_label, is_test, has_array)
ROWS = [
    ("togo", 0, 1, "cereals", False, True),
    ("togo", 1, 0, "non_crop", False, True),
    ("togo", 2, 1, None, False, True),  # binary only
    ("togo", 3, 1, "sugar", True, True),  # test point: never used
    ("kenya", 0, 1, "oilseeds", False, True),  # same index, other dataset
    ("kenya", 1, 0, None, False, True),
    ("kenya", 2, 1, "cereals", False, False),  # label without array: dropped
    ("kenya", 3, 0, None, True, False),
]


def _array(k: int) -> np.ndarray:
    # Every value names its sample, month and band: 1000 * sample + 20 * month + band.
    t, b = np.meshgrid(np.arange(12), np.arange(18), indexing="ij")
    return (1000 * k + 20 * t + b).astype(np.float64)


def _write_release(folder: Path) -> Path:
    arrays = folder / "features" / "arrays"
    arrays.mkdir(parents=True)
    feats = []
    for k, (ds, idx, crop, cls, test, has_array) in enumerate(ROWS):
        props = {
            "harvest_date": None, "planting_date": None, "label": cls and f"crop_{k}",
            "classification_label": cls, "index": idx, "is_crop": crop, "lat": 10.0 + k, "lon": -5.0 - k,
            "dataset": ds, "collection_date": "2019-01-01T00:00:00", "export_end_date": "2020-02-01T00:00:00",
            "externally_contributed_dataset": False, "is_test": test,
        }
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": [-5.0 - k, 10.0 + k]}})
        if has_array:
            with h5py.File(arrays / f"{idx}_{ds}.h5", "w") as f:
                f.create_dataset("array", data=_array(k))
    with h5py.File(arrays / "9_orphan.h5", "w") as f:  # array without a label row
        f.create_dataset("array", data=_array(99))
    (folder / "labels.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    tar_path = folder / "features.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(folder / "features", arcname="features")
    return tar_path


def _serve(monkeypatch: pytest.MonkeyPatch, name: str, path: Path, md5: str | None = None) -> None:
    """Point the registry entry `name` at the local file `path` (file:// URL, its md5 and size)."""
    data = path.read_bytes()
    entry = dataclasses.replace(registry.REGISTRY[name], url=path.resolve().as_uri(), mirrors=(),
                                md5=md5 or hashlib.md5(data).hexdigest(), size=len(data))
    monkeypatch.setitem(registry.REGISTRY, name, entry)


@pytest.fixture
def release(tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    src = tmp_path / "zenodo"
    src.mkdir()
    tar_path = _write_release(src)
    _serve(monkeypatch, ARCHIVE, tar_path)
    _serve(monkeypatch, LABELS, src / "labels.geojson")
    return empty_cache


def test_binary_downloads_verifies_and_filters(release: Path) -> None:
    ds = load_cropharvest("binary")
    assert (release / ARCHIVE).is_file() and (release / LABELS).is_file()  # fetched into the cache
    expected = [(d, i) for d, i, _, _, test, arr in ROWS if not test and arr]
    got = list(zip(ds.metadata["dataset"], ds.metadata["index"], strict=True))
    assert sorted(got) == sorted(expected)
    rows = {(d, i): r for r, (d, i, *_) in enumerate(ROWS)}
    k = np.array([rows[g] for g in got])
    assert ds.target.tolist() == [ROWS[r][2] for r in k]
    assert np.allclose(ds.metadata["lat"], 10.0 + k) and np.allclose(ds.metadata["lon"], -5.0 - k)
    assert ds.task == "binary" and ds.paper_name == "CropH-b" and not ds.stand_in


def test_multiclass_keeps_non_null_classification_labels(release: Path) -> None:
    ds = load_cropharvest("multiclass")
    expected = {(d, i): c for d, i, _, c, test, arr in ROWS if not test and arr and c is not None}
    got = dict(zip(zip(ds.metadata["dataset"], ds.metadata["index"], strict=True),
                   [ds.class_names[t] for t in ds.target], strict=True))
    assert got == expected
    assert ds.class_names == list(CROP_CLASSES) and len(CROP_CLASSES) == 10


def test_views_select_the_papers_bands(release: Path) -> None:
    ds = load_cropharvest("binary")
    k = np.array([next(r for r, row in enumerate(ROWS) if row[:2] == (d, i))
                  for d, i in zip(ds.metadata["dataset"], ds.metadata["index"], strict=True)])
    # value = 1000 * sample + 20 * month + band: recover the band index of every channel
    s1_bands = ds.modalities["S1"] - 1000 * k[:, None, None] - 20 * np.arange(12)[None, :, None]
    s2_bands = ds.modalities["S2"] - 1000 * k[:, None, None] - 20 * np.arange(12)[None, :, None]
    assert ds.shapes == {"S1": (12, 2), "S2": (12, 12)}
    assert np.all(s1_bands == np.array([0, 1]))  # VV, VH
    assert np.all(s2_bands == np.array([BANDS.index(b) for b in S2_BANDS]))
    assert S2_BANDS[-1] == "NDVI" and BANDS.index("NDVI") == 17 and "B1" not in S2_BANDS and "B10" not in S2_BANDS


def test_arrays_are_compacted_once_and_reused(release: Path) -> None:
    first = load_cropharvest("binary")
    npz = list((release / "cropharvest").glob("features_*.npz"))
    assert len(npz) == 1
    for h5 in (release / "cropharvest").glob("features_*/features/arrays/*.h5"):
        h5.unlink()  # the second load must not need the extracted files
    again = load_cropharvest("binary")
    assert np.array_equal(first.modalities["S2"], again.modalities["S2"])


def test_registered_by_name(release: Path) -> None:
    ds = load_dataset("croph_m", cache=False)
    assert ds.name == "croph_m" and len(ds) == 3


def test_corrupt_download_is_refused(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = registry.REGISTRY[ARCHIVE]
    monkeypatch.setitem(registry.REGISTRY, ARCHIVE, dataclasses.replace(entry, md5="0" * 32))
    with pytest.raises(cache.ChecksumError):
        load_cropharvest("binary")
    assert not (release / ARCHIVE).exists()


def test_unreachable_data_says_how_to_get_it(empty_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    for name in (ARCHIVE, LABELS):
        entry = registry.REGISTRY[name]
        monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(
            entry, url=(tmp_path / "nowhere" / Path(name).name).as_uri(), mirrors=()))
    with pytest.raises(cache.DatasetNotFoundError, match="Zenodo record 7257688") as err:
        load_cropharvest("binary")
    assert ENV_ROOT in str(err.value) and "algae_blooms" in str(err.value)


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("features/arrays/0_a.h5")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        if member.isfile():
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
        else:
            tar.addfile(member)
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_unsafe_archives_are_refused(tmp_path: Path, kind: str) -> None:
    if kind == "dotdot":
        member = tarfile.TarInfo("features/../../escaped.h5")
    elif kind == "absolute":
        member = tarfile.TarInfo(str(tmp_path / "absolute.h5"))
    else:
        member = tarfile.TarInfo("features/arrays/link.h5")
        member.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        member.linkname = "/etc/passwd"
    archive = _tar_with(tmp_path, member)
    dest = tmp_path / "out" / "features_x"
    with pytest.raises(DataValidationError, match="refusing"):
        safe_extract(archive, dest)
    assert not dest.exists() and not (tmp_path / "escaped.h5").exists() and not (tmp_path / "absolute.h5").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no half-extracted temporary folder left


def test_unsafe_archive_through_the_loader(tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    src = tmp_path / "zenodo"
    src.mkdir()
    _write_release(src)
    archive = _tar_with(tmp_path, tarfile.TarInfo("../../escaped.h5"))
    _serve(monkeypatch, ARCHIVE, archive)
    _serve(monkeypatch, LABELS, src / "labels.geojson")
    with pytest.raises(DataValidationError, match="escapes"):
        load_cropharvest("binary")
    assert not list((empty_cache / "cropharvest").glob("features_*"))


def test_reads_the_released_layout_in_place(real_data) -> None:
    paths = real_data("cropharvest_format/synthetic_layout/labels.geojson",
                      *[f"cropharvest_format/synthetic_layout/features/arrays/{i}_TestDataset{d}.h5"
                        for i, d in ((0, 1), (0, 2), (1, 1), (1, 2), (2, 1))])
    root = next(iter(paths.values())).parent
    ds = load_cropharvest("binary", root=root)
    # 5 label rows, one duplicated (TestDataset1, 0) and one without an array (TestDataset2, 2)
    assert len(ds) == 3 and ds.target.tolist() == [1, 1, 0]
    with pytest.raises(DataValidationError, match="no non-test"):
        load_cropharvest("multiclass", root=root)  # this layout has no classification_label
