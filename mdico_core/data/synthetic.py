"""Seeded synthetic multi-modal data, for tests, smoke runs and benchmarks (never for results).

Two (or more) modalities observe one latent signal through different random linear maps plus
modality-specific noise, so co-learning has something to share, and each modality alone is
informative but imperfect. Registered as ``toy_<task>`` datasets (small, labelled synthetic).
"""

from __future__ import annotations

import numpy as np

from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.dataset import ModalityInfo, MultiModalDataset, Task


def make_synthetic(
    task: Task = "multiclass",
    n: int = 256,
    shapes: dict[str, tuple[int, ...]] | None = None,
    n_classes: int = 4,
    seed: int = 0,
    noise: float = 0.5,
) -> MultiModalDataset:
    """A synthetic `MultiModalDataset` whose modalities share a latent factor.

    Args:
        task: the target type.
        n: samples.
        shapes: modality -> per-sample shape, (T, C) or (C, H, W). Default: S1 (12, 2), S2 (12, 12),
            the CropHarvest views.
        n_classes: classes (multiclass), labels (multilabel); binary uses 2.
        seed: all randomness comes from this seed.
        noise: modality-specific noise level.
    """
    rng = np.random.default_rng(seed)
    shapes = shapes or {"S1": (12, 2), "S2": (12, 12)}
    latent_dim = 8
    z = rng.standard_normal((n, latent_dim)).astype(np.float32)  # (N, L) the shared signal
    modalities = {}
    for m, shape in shapes.items():
        size = int(np.prod(shape))
        w = rng.standard_normal((latent_dim, size)).astype(np.float32) / np.sqrt(latent_dim)
        x = z @ w + noise * rng.standard_normal((n, size)).astype(np.float32)
        modalities[m] = x.reshape((n, *shape)).astype(np.float32)
    score = z @ rng.standard_normal((latent_dim, max(n_classes, 1))).astype(np.float32)  # (N, K)
    class_names = None
    if task == "regression":
        target = (50 + 10 * score[:, 0]).astype(np.float32)
    elif task == "binary":
        target = (score[:, 0] > 0).astype(np.int64)
        class_names = ["negative", "positive"]
    elif task == "multiclass":
        target = score.argmax(1).astype(np.int64)
        class_names = [f"class_{k}" for k in range(n_classes)]
    else:
        target = (score > 0.3).astype(np.float32)
        class_names = [f"label_{k}" for k in range(n_classes)]
    return MultiModalDataset(
        name=f"toy_{task}", modalities=modalities, target=target, task=task, class_names=class_names,
        info={m: ModalityInfo(sensor=f"synthetic {m}", kind="SITS" if len(s) == 2 else "image")
              for m, s in shapes.items()},
        source="synthetic (mdico_core.data.synthetic, seeded)", licence="n/a", stand_in=True,
    )


# Each stands in for the paper benchmark of its task where the book plan allows synthetic data.
BENCHMARK_OF_TASK = {"binary": "croph_b", "multiclass": "croph_m", "multilabel": "tsaits", "regression": "lfmc"}

for _task, _benchmark in BENCHMARK_OF_TASK.items():
    register_dataset(DatasetEntry(
        name=f"toy_{_task}", loader=lambda t=_task: make_synthetic(t), task=_task,
        description=f"Synthetic {_task} data, 256 samples, views S1 (12x2) and S2 (12x12): tests and smoke runs only",
        source="synthetic", licence="n/a", kind="synthetic", stand_in_for=_benchmark,
        samples=256, shapes={"S1": (12, 2), "S2": (12, 12)},
    ))
