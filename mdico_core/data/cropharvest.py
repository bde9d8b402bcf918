"""CropHarvest (Tseng et al. 2021): the CropH-b and CropH-m benchmarks of the paper (Tables 2, 3, 6).

The release (Zenodo record 7257688) is ``labels.geojson`` plus ``features.tar.gz``, which holds one
HDF5 file per labelled point, ``features/arrays/{index}_{dataset}.h5``, key ``array``: 12 monthly
steps x 18 bands in the order of `BANDS`. Points are joined to their label on (index, dataset).

- ``croph_b``: ``is_crop`` (binary) over every non-test point (``is_test`` false) that has an array
  (69,800 in the paper).
- ``croph_m``: the non-test points with a non-null ``classification_label`` (29,642 in the paper),
  ten classes in the order of `CROP_CLASSES` (CropHarvest's own class enumeration, so class indices
  do not depend on the file order; the released code numbers classes by first appearance).

Views (paper Table 1): ``S1`` = VV, VH (12 x 2); ``S2`` = the 11 optical bands + NDVI (12 x 12).
Temperature, precipitation, elevation and slope are not used by the paper.

The archive is downloaded and checked through the data cache, extracted safely (only regular
files and folders, no absolute paths, no ``..``, no links; into a temporary folder that is then
renamed), and the ~70k small arrays are read once into a compact ``.npz`` beside the extracted
folder, keyed by the archive's checksum, so later loads take a second.

A CropHarvest copy that is already on disk (a folder with ``labels.geojson`` and
``features/arrays``) is read in place with ``root=`` or ``$MDICO_CROPHARVEST_DIR``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import pandas as pd

from mdico_core._util import atomic_write
from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.dataset import DataValidationError, ModalityInfo, MultiModalDataset
from mdico_core.data.registry import get_remote

log = logging.getLogger(__name__)

ENV_ROOT = "MDICO_CROPHARVEST_DIR"
ARCHIVE = "cropharvest/features.tar.gz"
LABELS = "cropharvest/labels.geojson"
SOURCE = "CropHarvest (Tseng et al. 2021, github.com/nasaharvest/cropharvest; zenodo.org/records/7257688)"
LICENCE = get_remote(LABELS).licence  # the registry says each file's licence once

# The 18 channels of every CropHarvest array (also of Presto's exports of other tasks).
BANDS: tuple[str, ...] = (
    "VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12",
    "temperature_2m", "total_precipitation", "elevation", "slope", "NDVI",
)
S1_BANDS: tuple[str, ...] = ("VV", "VH")
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "NDVI")
VIEW_BANDS: dict[str, tuple[str, ...]] = {"S1": S1_BANDS, "S2": S2_BANDS}
VIEW_INFO: dict[str, ModalityInfo] = {
    "S1": ModalityInfo("Sentinel-1", "SITS", S1_BANDS, "10 m", "1 per month"),
    "S2": ModalityInfo("Sentinel-2", "SITS", S2_BANDS, "10 m", "1 per month"),
}
# CropHarvest's class enumeration (FAO indicative crop classification, plus non-crop).
CROP_CLASSES: tuple[str, ...] = (
    "non_crop", "cereals", "vegetables_melons", "fruits_nuts", "oilseeds", "root_tuber",
    "beverage_spice", "leguminous", "sugar", "other",
)
PAPER_SAMPLES = {"binary": 69_800, "multiclass": 29_642}
_ARRAY_NAME = re.compile(r"^(?P<index>\d+)_(?P<dataset>.+)\.h5$")


def select_bands(x: np.ndarray, bands: tuple[str, ...], order: tuple[str, ...] = BANDS) -> np.ndarray:
    """The channels `bands` of `x` (N, T, len(order)), as float32 (N, T, len(bands))."""
    if x.ndim != 3 or x.shape[-1] != len(order):
        raise DataValidationError(f"expected arrays (N, T, {len(order)}) in the band order {order}, got {x.shape}")
    missing = [b for b in bands if b not in order]
    if missing:
        raise ValueError(f"bands {missing} are not among {order}")
    return np.ascontiguousarray(x[..., [order.index(b) for b in bands]], dtype=np.float32)


def cropharvest_views(x: np.ndarray) -> dict[str, np.ndarray]:
    """The paper's views of CropHarvest-layout arrays (N, 12, 18): S1 (N, 12, 2) and S2 (N, 12, 12)."""
    return {view: select_bands(x, bands) for view, bands in VIEW_BANDS.items()}


# ---------------------------------------------------------------------------------- archive
def _check_member(member: tarfile.TarInfo) -> PurePosixPath | None:
    """The member's safe relative path, None for a folder; raises on anything that could escape."""
    name = member.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise DataValidationError(f"archive member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts or "\\" in name:
        raise DataValidationError(f"archive member {name!r} escapes the extraction folder; refusing to extract")
    if member.issym() or member.islnk():
        raise DataValidationError(f"archive member {name!r} is a link; refusing to extract")
    if member.isdir():
        return None
    if not member.isfile():
        raise DataValidationError(f"archive member {name!r} is not a regular file; refusing to extract")
    return path


def safe_extract(archive: Path | str, dest: Path | str) -> Path:
    """Extract the tar(.gz) `archive` into the folder `dest` (which must not exist yet).

    Every member is checked (absolute paths, ``..``, links and special files are refused) and
    written by this code, not by ``tarfile``, into a temporary folder beside `dest`; the folder is
    renamed to `dest` only when the whole archive passed, so `dest` is either complete or absent
    and a refused archive leaves nothing behind.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:  # sequential pass: cheap on a gzip stream
                rel = _check_member(member)
                if rel is None:
                    continue
                out = tmp.joinpath(*rel.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                with src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():  # another process may have finished the same extraction first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _arrays_dir(root: Path) -> Path:
    for cand in (root / "features" / "arrays", root / "arrays"):
        if cand.is_dir():
            return cand
    raise DataValidationError(f"no features/arrays folder under {root}; expected the CropHarvest release layout")


def read_arrays(arrays_dir: Path | str) -> dict[str, np.ndarray]:
    """Every ``{index}_{dataset}.h5`` of `arrays_dir`: {"array" (N, 12, 18), "index", "dataset"}."""
    import h5py

    arrays_dir = Path(arrays_dir)
    xs, idx, names = [], [], []
    for p in sorted(arrays_dir.glob("*.h5")):
        match = _ARRAY_NAME.match(p.name)
        if match is None:
            log.warning("skipping %s: not named {index}_{dataset}.h5", p)
            continue
        with h5py.File(p, "r") as f:
            a = np.asarray(f["array"], dtype=np.float32)
        if a.shape != (12, len(BANDS)):
            raise DataValidationError(f"{p}: array shape {a.shape}, expected (12, {len(BANDS)})")
        xs.append(a)
        idx.append(int(match["index"]))
        names.append(match["dataset"])
    if not xs:
        raise DataValidationError(f"no {{index}}_{{dataset}}.h5 arrays in {arrays_dir}")
    return {"array": np.stack(xs), "index": np.asarray(idx, dtype=np.int64), "dataset": np.asarray(names)}


def cached_arrays(archive: Path | str, key: str) -> dict[str, np.ndarray]:
    """The arrays of the CropHarvest `archive`, extracted and compacted once.

    The archive is extracted to ``features_<key>/`` beside it and read into
    ``features_<key>.npz``; `key` (the archive's checksum) ties both to these exact bytes.
    """
    archive = Path(archive)
    npz = archive.with_name(f"features_{key[:16]}.npz")
    if not npz.is_file():
        folder = archive.with_name(f"features_{key[:16]}")
        if not folder.is_dir():
            log.info("extracting %s (once)", archive)
            safe_extract(archive, folder)
        log.info("reading the CropHarvest arrays into %s (once)", npz)
        arrays = read_arrays(_arrays_dir(folder))
        atomic_write(npz, lambda f: np.savez(f, **arrays))
    with np.load(npz, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------------------------- labels
def _centroid(geometry: dict | None) -> tuple[float, float]:
    # (lat, lon) of a Point, or the mean vertex of a Polygon's outer ring; NaN when unknown.
    if not geometry:
        return float("nan"), float("nan")
    coords = geometry.get("coordinates")
    if geometry.get("type") == "Point":
        return float(coords[1]), float(coords[0])
    if geometry.get("type") == "Polygon" and coords:
        ring = np.asarray(coords[0], dtype=np.float64)
        if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
            ring = ring[:-1]  # a closed ring repeats its first vertex
        return float(ring[:, 1].mean()), float(ring[:, 0].mean())
    return float("nan"), float("nan")


def read_labels(path: Path | str) -> pd.DataFrame:
    """``labels.geojson`` as a table: dataset, index, is_crop, label, classification_label, is_test, lat, lon.

    ``is_test`` missing is read as False, ``lat``/``lon`` missing are taken from the geometry.
    Duplicated (dataset, index) pairs keep their first row.
    """
    with open(path, encoding="utf-8") as f:
        features = json.load(f).get("features", [])
    rows = []
    for feat in features:
        p = dict(feat.get("properties") or {})
        if p.get("index") is None and p.get("dataset_index") is not None:
            p["index"] = p["dataset_index"]  # later cropharvest releases renamed the column
        for col in ("dataset", "index", "is_crop"):
            if p.get(col) is None:
                raise DataValidationError(f"{path}: a feature lacks the required property {col!r}")
        lat, lon = _centroid(feat.get("geometry"))
        rows.append({
            "dataset": str(p["dataset"]), "index": int(p["index"]), "is_crop": int(p["is_crop"]),
            "label": p.get("label"), "classification_label": p.get("classification_label"),
            "is_test": bool(p.get("is_test") or False),
            "lat": float(p["lat"]) if p.get("lat") is not None else lat,
            "lon": float(p["lon"]) if p.get("lon") is not None else lon,
        })
    df = pd.DataFrame(rows, columns=["dataset", "index", "is_crop", "label", "classification_label",
                                     "is_test", "lat", "lon"])
    n = len(df)
    df = df.drop_duplicates(["dataset", "index"], keep="first").reset_index(drop=True)
    if len(df) < n:
        log.warning("%s: %d duplicated (dataset, index) rows dropped (first kept)", path, n - len(df))
    return df


# ---------------------------------------------------------------------------------- loader
def _sources(root: Path | str | None, download: bool) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    root = root if root is not None else os.environ.get(ENV_ROOT) or None
    if root is not None:
        root = Path(root).expanduser()
        labels = root / "labels.geojson"
        if not labels.is_file():
            from mdico_core.data.cache import DatasetNotFoundError

            raise DatasetNotFoundError(f"no labels.geojson in the CropHarvest folder {root} (root= or ${ENV_ROOT})")
        return read_labels(labels), read_arrays(_arrays_dir(root))
    from mdico_core.data.cache import DatasetNotFoundError, fetch
    from mdico_core.data.registry import get_remote

    try:
        labels = fetch(LABELS, download=download)
        archive = fetch(ARCHIVE, download=download)
    except DatasetNotFoundError as err:
        raise DatasetNotFoundError(
            f"{err}\n\nCropHarvest (CropH-b / CropH-m) needs features.tar.gz (several GB) and labels.geojson "
            "from Zenodo record 7257688; machines without internet cannot fetch them. Either download both "
            "files and run `mdico data seed <their folder>`, or point root= / "
            f"${ENV_ROOT} at an existing CropHarvest folder holding labels.geojson and features/arrays. "
            "Without the real data, the real stand-in `algae_blooms` has the same layout."
        ) from err
    return read_labels(labels), cached_arrays(archive, get_remote(ARCHIVE).digest)


def load_cropharvest(task: Literal["binary", "multiclass"] = "binary", root: Path | str | None = None,
                     download: bool = True) -> MultiModalDataset:
    """CropH-b (`task` "binary") or CropH-m ("multiclass") as a `MultiModalDataset`.

    Args:
        task: "binary" (is_crop over non-test points) or "multiclass" (classification_label).
        root: read an existing CropHarvest folder (labels.geojson + features/arrays) instead of the
            cache; default ``$MDICO_CROPHARVEST_DIR``, else the cache.
        download: allow the cache to download missing files.

    Raises:
        DatasetNotFoundError: the data are not available (the message says how to get them).
    """
    if task not in ("binary", "multiclass"):
        raise ValueError(f"CropHarvest task must be 'binary' or 'multiclass', got {task!r}")
    labels, arrays = _sources(root, download)
    keys = pd.DataFrame({"dataset": arrays["dataset"], "index": arrays["index"], "row": np.arange(len(arrays["index"]))})
    df = labels[~labels["is_test"]].merge(keys, on=["dataset", "index"], how="inner", validate="one_to_one")
    if task == "multiclass":
        df = df[df["classification_label"].notna()]
        unknown = sorted(set(df["classification_label"]) - set(CROP_CLASSES))
        if unknown:
            raise DataValidationError(f"unknown classification_label values {unknown}; expected {CROP_CLASSES}")
        target = df["classification_label"].map(CROP_CLASSES.index).to_numpy(np.int64)
        class_names = list(CROP_CLASSES)
    else:
        target = df["is_crop"].to_numpy(np.int64)
        class_names = ["non-crop", "crop"]
    if len(df) == 0:
        raise DataValidationError(f"no non-test CropHarvest point with an array qualifies for the {task} task")
    x = arrays["array"][df["row"].to_numpy()]  # (N, 12, 18)
    name = "croph_b" if task == "binary" else "croph_m"
    meta = df[["lat", "lon", "dataset", "index", "label", "classification_label", "is_crop"]].reset_index(drop=True)
    return MultiModalDataset(
        name=name, modalities=cropharvest_views(x), target=target, task=task, metadata=meta,
        class_names=class_names, info=dict(VIEW_INFO), nan_policy="zero",
        paper_name="CropH-b" if task == "binary" else "CropH-m", source=SOURCE, licence=LICENCE,
    )


def _present() -> tuple[bool | None, str]:
    # An existing copy named by the environment wins; None leaves the answer to the cache files.
    if os.environ.get(ENV_ROOT):
        ok = (Path(os.environ[ENV_ROOT]).expanduser() / "labels.geojson").is_file()
        return ok, f"${ENV_ROOT}={os.environ[ENV_ROOT]}"
    return None, ""


for _task, _name in (("binary", "croph_b"), ("multiclass", "croph_m")):
    register_dataset(DatasetEntry(
        name=_name,
        loader=lambda t=_task: load_cropharvest(t),
        paper_name="CropH-b" if _task == "binary" else "CropH-m",
        task=_task,
        description=("CropHarvest crop / non-crop" if _task == "binary" else "CropHarvest crop type (10 classes)")
        + f", {PAPER_SAMPLES[_task]:,} non-test points in the paper: Sentinel-1 (12x2) + Sentinel-2 (12x12)",
        files=(LABELS, ARCHIVE),
        source=SOURCE,
        licence=LICENCE,
        samples=PAPER_SAMPLES[_task],
        shapes={"S1": (12, 2), "S2": (12, 12)},
        presence=_present,
        info_load=False,
    ))
