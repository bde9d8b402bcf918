"""TreeSatAI-Time-Series (Ahlswede et al. 2023; Astruc et al. 2024): the TSAITS benchmark (Table 4, Fig. 4).

Multi-label tree-genus identification in Germany from an aerial image (RGB + NIR, 0.2 m) and a
Sentinel-2 time series (10 bands, 6 x 6 pixels of 10 m) per 60 m plot.

Layout read (the HuggingFace dataset ``IGNF/TreeSatAI-Time-Series``, unzipped):
``<root>/aerial/{name}.tif`` (H x W x 4 uint8; ``{name}`` ends in ``.tif``) and
``<root>/sentinel-ts/{stem}.h5`` or ``{stem}_{year}.h5`` (``stem`` = name without ``.tif``) with
``sen-2-data`` (T, 10, 6, 6) and ``sen-2-masks`` (T, 10, 6, 6; channels 0-1 are the snow and
cloud probabilities in %, the others are empty). The files may also lie directly in ``<root>``.

Labels and splits come through the data cache: ``TreeSatBA_v9_60m_multi_labels.json`` gives the
area proportion of each genus per plot; a genus is kept when its proportion is > 0.07, which
leaves exactly the paper's 15 genera (`GENERA`); plots with no kept genus are dropped (7 of the
45,337 training plots, none of the 5,044 test plots). The official train/test lists are
TreeSatAI's; a validation list ``<root>/split/val_filenames.lst`` is used when present, otherwise
validation is carved from train with a seed (`val_fraction` 0.15 gives the paper's 6,810 of
45,330).

Modalities:

- ``S2``: (146, 432) float32. Each date's 10 bands and 2 mask channels are laid out
  (6, 6, 12) and flattened to 432 = 6 * 6 * 12 features (index (h * 6 + w) * 12 + c), as the
  released code flattens (H, W, C), so the temporal encoders read (T, C). Series shorter than 146
  dates are **left-padded**: data with NaN (set to 0, the training mean, after z-scoring; the
  dataset's ``nan_policy`` is "zero"), mask channels with 0. Longer series keep their last 146
  dates (the real data has at most 146).
- ``aerial``: (4, H, W) float32 (R, G, B, NIR; 304 x 304 in the real data), for ResNet-50.
  ``aerial_size`` average-pools it to (4, s, s) for CPU runs; default: full resolution.

The 50 GB imagery is not in the cache: pass ``root`` or set ``$MDICO_TREESATAI_DIR``. Memory:
the whole benchmark at full aerial resolution takes ~87 GB as float32 (S2 12.7 GB, aerial 74 GB);
``aerial_size=64`` brings it to ~16 GB (S2 + 3.3 GB), and ``max_samples`` draws a seeded subset for smoke runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.dataset import DataValidationError, ModalityInfo, MultiModalDataset
from mdico_core.data.registry import get_remote

log = logging.getLogger(__name__)

ENV_ROOT = "MDICO_TREESATAI_DIR"
HF_URL = "https://huggingface.co/datasets/IGNF/TreeSatAI-Time-Series"
LABELS = "treesatai_ts/TreeSatBA_v9_60m_multi_labels.json"
TRAIN_LIST = "treesatai_ts/train_filenames.lst"
TEST_LIST = "treesatai_ts/test_filenames.lst"
SOURCE = "TreeSatAI-Time-Series (IGNF, huggingface.co/datasets/IGNF/TreeSatAI-Time-Series; zenodo.org/records/6780578)"
LICENCE = get_remote(LABELS).licence  # the registry says each file's licence once

GENERA: tuple[str, ...] = (
    "Abies", "Acer", "Alnus", "Betula", "Cleared", "Fagus", "Fraxinus", "Larix", "Picea", "Pinus",
    "Populus", "Prunus", "Pseudotsuga", "Quercus", "Tilia",
)
LABEL_THRESHOLD = 0.07
S2_LENGTH = 146
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
MASK_CHANNELS = 2  # snow and cloud probability
PAPER_SPLIT = {"train": 38_520, "val": 6_810, "test": 5_044}
INFO = {
    "S2": ModalityInfo("Sentinel-2", "SITS", S2_BANDS + ("snow_prob", "cloud_prob"), "10 m", "~10 per month"),
    "aerial": ModalityInfo("Aerial (RGB+NIR)", "image", ("R", "G", "B", "NIR"), "0.2 m", "None"),
}
_YEAR = re.compile(r"^(?P<stem>.+)_(?P<year>\d{4})$")


# ---------------------------------------------------------------------------------- labels
def read_labels(path: Path | str, threshold: float = LABEL_THRESHOLD,
                genera: tuple[str, ...] = GENERA) -> dict[str, list[str]]:
    """{file name: genera with area proportion > `threshold`}; plots with none are left out."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    out: dict[str, list[str]] = {}
    for name, pairs in raw.items():
        kept = [str(g) for g, p in pairs if float(p) > threshold]
        unknown = sorted(set(kept) - set(genera))
        if unknown:
            raise DataValidationError(f"{path}: plot {name!r} has genera {unknown} outside {genera}")
        if kept:
            out[name] = kept
    return out


def read_list(path: Path | str) -> list[str]:
    """File names of a split list (one per line; CRLF or LF; blank lines ignored)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


# ---------------------------------------------------------------------------------- files
class _Index:
    """Where each sample's .tif and .h5 are, from one directory listing per candidate folder."""

    def __init__(self, root: Path):
        self.root = root
        self.tif: dict[str, Path] = {}
        self.h5: dict[str, list[Path]] = {}
        for folder in (root, root / "aerial", root / "aerial" / "60m"):
            for p in _listdir(folder):
                if p.suffix.lower() in (".tif", ".tiff"):
                    self.tif.setdefault(p.name, p)
        for folder in (root, root / "sentinel-ts"):
            for p in _listdir(folder):
                if p.suffix == ".h5":
                    m = _YEAR.match(p.stem)
                    self.h5.setdefault(p.stem, []).append(p)
                    if m:
                        self.h5.setdefault(m["stem"], []).append(p)

    def find(self, name: str) -> tuple[Path | None, Path | None]:
        stem = name[:-4] if name.endswith(".tif") else name
        h5 = sorted(set(self.h5.get(stem, [])))
        exact = [p for p in h5 if p.stem == stem]
        # One file per plot is expected; with several years, the most recent is read.
        return self.tif.get(name) or self.tif.get(stem + ".tif"), (exact or h5[-1:] or [None])[0]


def _listdir(folder: Path) -> list[Path]:
    try:
        return [folder / n for n in os.listdir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_s2(path: Path | str, length: int = S2_LENGTH) -> tuple[np.ndarray, int]:
    """Sentinel-2 of one .h5 as ((length, H*W*12) float32, original number of dates).

    Bands (T, 10, H, W) and mask channels 0-1 (T, 2, H, W) are stacked channels-last
    (T, H, W, 12) and flattened; the series is left-padded to `length` (data NaN, mask 0).
    """
    import h5py

    with h5py.File(path, "r") as f:
        for key in ("sen-2-data", "sen-2-masks"):
            if key not in f:
                raise DataValidationError(f"{path}: no {key!r} dataset (keys: {sorted(f)})")
        data = np.asarray(f["sen-2-data"], dtype=np.float32)  # (T, 10, H, W)
        mask = np.asarray(f["sen-2-masks"], dtype=np.float32)[:, :MASK_CHANNELS]  # (T, 2, H, W)
    if data.ndim != 4 or data.shape[1] != len(S2_BANDS) or mask.shape[0] != data.shape[0]:
        raise DataValidationError(f"{path}: sen-2-data {data.shape} / sen-2-masks {mask.shape}; expected (T, 10, H, W)")
    t = data.shape[0]
    if t > length:
        log.warning("%s: %d dates, keeping the last %d", path, t, length)
        data, mask = data[-length:], mask[-length:]
    pad = length - len(data)
    data = np.concatenate([np.full((pad, *data.shape[1:]), np.nan, np.float32), data])
    mask = np.concatenate([np.zeros((pad, *mask.shape[1:]), np.float32), mask])
    x = np.concatenate([data, mask], axis=1).transpose(0, 2, 3, 1)  # (length, H, W, 12)
    return np.ascontiguousarray(x.reshape(length, -1)), t


def read_aerial(path: Path | str, size: int | None = None) -> np.ndarray:
    """The aerial image as (4, H, W) float32 (band axis first), average-pooled to (4, size, size) if asked."""
    import tifffile

    tf_log = logging.getLogger("tifffile")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # the real files carry a GDAL nodata tag (-9999) that uint8 cannot hold
    try:
        a = tifffile.imread(path)
    finally:
        tf_log.setLevel(level)
    if a.ndim == 3 and a.shape[-1] == 4 and a.shape[0] != 4:
        a = a.transpose(2, 0, 1)  # (H, W, 4) -> (4, H, W)
    if a.ndim != 3 or a.shape[0] != 4:
        raise DataValidationError(f"{path}: aerial image of shape {a.shape}; expected 4 bands (H, W, 4) or (4, H, W)")
    x = a.astype(np.float32)
    if size is not None and x.shape[1:] != (size, size):
        import torch
        import torch.nn.functional as F

        x = F.adaptive_avg_pool2d(torch.from_numpy(x)[None], size)[0].numpy()
    return np.ascontiguousarray(x)


# ---------------------------------------------------------------------------------- loader
def _root(root: Path | str | None) -> Path:
    from mdico_core.data.cache import DatasetNotFoundError

    root = root if root is not None else os.environ.get(ENV_ROOT) or None
    how = (f"TreeSatAI-Time-Series imagery (~50 GB) is not in the data cache. Download aerial.zip and "
           f"sentinel-ts.zip from {HF_URL} (CC BY 4.0), unzip them into one folder (giving aerial/ and "
           f"sentinel-ts/), and pass root=<folder> or set ${ENV_ROOT}=<folder>. Labels and split lists come "
           "from the cache (`mdico data fetch treesatai_ts/...`).")
    if root is None:
        raise DatasetNotFoundError(f"no TreeSatAI-TS folder given (root=None and ${ENV_ROOT} unset). {how}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"TreeSatAI-TS folder {root} does not exist. {how}")
    return root


def _sample_names(split_lists: dict[str, list[str]], labels: dict[str, list[str]]) -> list[tuple[str, str]]:
    out, seen = [], set()
    for split, names in split_lists.items():
        for n in names:
            if n in labels and n not in seen:
                seen.add(n)
                out.append((n, split))
    return out


def load_treesatai(
    root: Path | str | None = None,
    val_fraction: float = 0.15,
    seed: int = 0,
    aerial_size: int | None = None,
    missing: Literal["raise", "skip"] = "raise",
    max_samples: int | None = None,
    label_files: dict[str, Path | str] | None = None,
) -> MultiModalDataset:
    """TSAITS as a multi-label `MultiModalDataset` with its official split.

    Args:
        root: folder with ``aerial/`` and ``sentinel-ts/`` (default ``$MDICO_TREESATAI_DIR``).
        val_fraction: share of train carved out (seeded) as validation when ``split/val_filenames.lst``
            is absent from `root`.
        seed: seeds the validation carve and the `max_samples` draw.
        aerial_size: average-pool the aerial images to (4, s, s) (CPU runs); None keeps them whole.
        missing: a listed plot without its .tif or .h5: "raise" (default) or "skip" it (logged).
        max_samples: keep a seeded random subset of at most this many plots per split (smoke runs).
        label_files: {"labels", "train", "test"} -> local files, instead of the cache (tests).

    Raises:
        DatasetNotFoundError: no imagery folder, or labels/lists not in the cache.
        FileNotFoundError: with ``missing="raise"``, listed plots whose files are absent.
    """
    if missing not in ("raise", "skip"):
        raise ValueError(f"missing must be 'raise' or 'skip', got {missing!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    root = _root(root)
    if label_files is None:
        from mdico_core.data.cache import fetch

        label_files = {"labels": fetch(LABELS), "train": fetch(TRAIN_LIST), "test": fetch(TEST_LIST)}
    labels = read_labels(label_files["labels"])
    lists = {"train": read_list(label_files["train"]), "test": read_list(label_files["test"])}
    val_path = root / "split" / "val_filenames.lst"
    official_val = val_path.is_file()
    if official_val:
        val = read_list(val_path)
        vset = set(val)
        lists = {"train": [n for n in lists["train"] if n not in vset], "val": val, "test": lists["test"]}
    rng = np.random.default_rng(seed)
    if max_samples is not None:
        lists = {s: [names[i] for i in np.sort(rng.permutation(len(names))[:max_samples])]
                 for s, names in lists.items()}

    index = _Index(root)
    found, absent = [], []
    for name, split in _sample_names(lists, labels):
        tif, h5 = index.find(name)
        if tif is None or h5 is None:
            lacks = [what for what, path in (("no .tif", tif), ("no .h5", h5)) if path is None]
            absent.append(f"{name} ({', '.join(lacks)})")
            continue
        found.append((name, split, tif, h5))
    if absent:
        msg = (f"{len(absent)} listed TreeSatAI-TS plots lack their files under {root}, e.g. "
               f"{'; '.join(absent[:5])}")
        if missing == "raise":
            raise FileNotFoundError(msg + ". Complete the download, or pass missing='skip' to leave them out.")
        log.warning("%s; skipped (missing='skip')", msg)
    if not found:
        raise FileNotFoundError(f"no listed TreeSatAI-TS plot has both its .tif and .h5 under {root}")

    n = len(found)
    s2 = aerial = None
    steps = np.zeros(n, dtype=np.int64)
    for i, (_, _, tif, h5) in enumerate(found):
        x, steps[i] = read_s2(h5)
        a = read_aerial(tif, aerial_size)
        if s2 is None:
            s2 = np.empty((n, *x.shape), np.float32)  # (N, 146, H*W*12)
            aerial = np.empty((n, *a.shape), np.float32)  # (N, 4, H, W)
        if x.shape != s2.shape[1:] or a.shape != aerial.shape[1:]:
            raise DataValidationError(
                f"{h5.name} / {tif.name}: shapes {x.shape} / {a.shape} differ from the first plot's "
                f"{s2.shape[1:]} / {aerial.shape[1:]}; pass aerial_size= to resize the aerial images")
        s2[i], aerial[i] = x, a

    names = [f[0] for f in found]
    split = np.array([f[1] for f in found], dtype=object)
    if not official_val:
        train = np.flatnonzero(split == "train")
        n_val = int(round(val_fraction * len(train)))
        split[rng.permutation(train)[:n_val]] = "val"
    target = np.zeros((n, len(GENERA)), np.float32)
    for i, name in enumerate(names):
        target[i, [GENERA.index(g) for g in labels[name]]] = 1.0
    meta = pd.DataFrame({
        "name": names, "species": [nm.rsplit("_", 4)[0] for nm in names],
        "genera": [";".join(labels[nm]) for nm in names], "s2_dates": steps,
    })
    return MultiModalDataset(
        name="tsaits", modalities={"S2": s2, "aerial": aerial}, target=target, task="multilabel",
        metadata=meta, class_names=list(GENERA), info=dict(INFO), split=split.astype(str),
        nan_policy="zero", paper_name="TSAITS", source=SOURCE, licence=LICENCE,
    )


def _present() -> tuple[bool | None, str]:
    root = os.environ.get(ENV_ROOT)
    if not root:
        return False, f"imagery folder not set: set ${ENV_ROOT} (see {HF_URL})"
    idx = _Index(Path(root).expanduser())
    ok = bool(idx.tif) and bool(idx.h5)
    return (None if ok else False), f"${ENV_ROOT} is set: {len(idx.tif)} .tif, {len(idx.h5)} .h5"  # no machine path on a page


def describe_layout(names: Iterable[str], root: Path | str) -> pd.DataFrame:
    """For each plot name, where its .tif and .h5 were found under `root` (None when absent)."""
    idx = _Index(Path(root))
    rows = [(n, *idx.find(n)) for n in names]
    return pd.DataFrame(rows, columns=["name", "tif", "h5"])


register_dataset(DatasetEntry(
    name="tsaits",
    loader=load_treesatai,
    paper_name="TSAITS",
    task="multilabel",
    description=("TreeSatAI-Time-Series, 15 tree genera (multi-label), 38,520/6,810/5,044 plots in the paper: "
                 "Sentinel-2 (146x432 = 6x6 pixels x 12) + aerial RGB+NIR (4x304x304)"),
    files=(LABELS, TRAIN_LIST, TEST_LIST),
    source=SOURCE,
    licence=LICENCE,
    official_split=True,
    samples=sum(PAPER_SPLIT.values()),
    shapes={"S2": (S2_LENGTH, 432), "aerial": (4, 304, 304)},
    presence=_present,
    info_load=False,
    how_to_get=f"download the imagery from {HF_URL} and set ${ENV_ROOT}",
))
