"""`run_one`: train and evaluate one `RunConfig`, and save its record.

One run:

1. loads the dataset, keeps only the modalities ``cfg.modalities`` (all when None; the folds
   depend on the target alone, so they are the same either way) and takes the run's (train, val,
   test) rows: fold ``cfg.fold`` of ``cfg.n_folds``, folds and validation split seeded by
   ``cfg.effective_split_seed`` (the split seed, else ``cfg.seed``; ``fold=None``: the official
   split). Protocol "paper" carves validation from the training folds and fits the z-score on
   training rows; protocol "released" validates on the test fold and fits the z-score on all
   rows, as the released code;
2. seeds torch, numpy and ``random`` with ``cfg.seed`` and builds the method in its variant and
   settings (`NotReproducedError` -> a "not_reproduced" record with the message, no training);
3. trains with `mdico_core.training.fit` (every stage of the method), timing it and measuring
   peak memory;
4. scores every view of ``method.views()`` on the test rows, each with the weights its checkpoint
   rule kept for it (``best_epochs``), saves predictions (float32) and, if
   ``cfg.save_features``, features (float16) of every view to the .npz, then the JSON record.

Same seed, same code, same hardware and thread count -> identical metrics (the thread count is
recorded in the provenance as ``torch_threads``; every executor of `sweep` fixes it, to 1 by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import resource
import socket
import sys
import time
import traceback as tb
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from mdico_core._util import code_version, thread_env
from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.machine import environment
from mdico_core.experiments.store import ResultsStore
from mdico_core.options import STATISTICS_ON_ALL_ROWS, VALIDATES_ON_TEST

# ---------------------------------------------------------------------------------- provenance
_DATA_HASHES: dict[tuple[str, int], dict[str, str]] = {}


def data_hashes(name: str, ds: Any) -> dict[str, str]:
    """{file: sha256} of the cache files dataset `name` reads, or {"arrays": sha256 of its arrays}.

    Registered cache files carry a pinned hash that the cache verified before loading, so it is
    reported as is; a file pinned only by md5 (Zenodo's CropHarvest archives, several GB) is
    reported as ``"md5:<digest>"`` rather than re-hashed in every worker. Datasets without
    registered files (synthetic, user data) are hashed from their in-memory arrays.
    """
    key = (name, id(ds))
    if key in _DATA_HASHES:
        return _DATA_HASHES[key]
    from mdico_core.data import get_dataset_entry

    out: dict[str, str] = {}
    try:
        files = get_dataset_entry(name).files
    except ValueError:
        files = ()
    if files:
        from mdico_core.data.registry import get_remote

        for f in files:
            entry = get_remote(f)
            out[f] = entry.sha256 or f"{entry.algorithm}:{entry.digest}"
    else:
        h = hashlib.sha256()
        for m in sorted(ds.modalities):
            h.update(m.encode())
            h.update(np.ascontiguousarray(ds.modalities[m]).tobytes())
        h.update(np.ascontiguousarray(ds.target).tobytes())
        out["arrays"] = h.hexdigest()
    _DATA_HASHES[key] = out
    return out


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"{device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    # ru_maxrss is in KiB on Linux and bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ---------------------------------------------------------------------------------- one run
def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- code that draws from the legacy global generator
    torch.manual_seed(seed)


def _base_record(cfg: RunConfig, profile: str, task: str) -> dict[str, Any]:
    # the config without the weights' local path: their digest identifies them
    return {
        "run_id": cfg.run_id, "config": {**cfg.to_dict(), "image_weights": ""}, "status": "done", "message": None,
        "task": task, "metrics": {}, "history": [], "best_epoch": 0, "best_epochs": {}, "epochs_run": 0,
        "wall_time_s": 0.0,
        "peak_memory_mb": None, "memory_measure": None, "n_train": 0, "n_val": 0, "n_test": 0,
        "provenance": {},
    }


def _provenance(device: str, profile: str, hashes: dict[str, str]) -> dict[str, Any]:
    """What a record says of the code, data, machine and time that made it."""
    return {
        **code_version(), "data_sha256": hashes, **environment(device),
        "device": _device_name(device), "profile": profile, "hostname": socket.gethostname(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def execute(cfg: RunConfig, profile: str = "", progress: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """Train and evaluate `cfg` without touching any store; returns (record, arrays).

    Args:
        cfg: the run.
        profile: name recorded in the provenance.
        progress: show a tqdm bar over epochs once a run has lasted 20 s.

    Memory: on CUDA, ``peak_memory_mb`` is ``torch.cuda.max_memory_allocated`` during training
    and evaluation (tensors only). On CPU it is the process's peak resident set size so far
    (``getrusage``), which includes the interpreter, the dataset and earlier runs of the same
    process: an upper bound, comparable between methods only when each run has its own process.
    ``memory_measure`` says which one was recorded.
    """
    from mdico_core.data import load_dataset
    from mdico_core.experiments.config import verified_weights
    from mdico_core.methods import build_method
    from mdico_core.methods.base import NotReproducedError, ProblemSpec
    from mdico_core.metrics import score
    from mdico_core.training import features, fit, predict, to_tensors, use_view_weights

    t_start = time.perf_counter()
    ds = load_dataset(cfg.dataset)
    hashes = data_hashes(cfg.dataset, ds)  # of the whole dataset: memoised on the loaded object
    if cfg.modalities is not None:
        ds = ds.select(cfg.modalities)
    on_test = cfg.protocol in VALIDATES_ON_TEST
    train_idx, val_idx, test_idx = ds.split_indices(
        cfg.fold, cfg.n_folds, cfg.effective_split_seed, validation="test" if on_test else "split", by=cfg.folds_by)
    # The released code's statistics cover every row of its CV file (test folds included), but
    # only the training file of an official split (TreeSatAI-TS).
    all_rows = cfg.protocol in STATISTICS_ON_ALL_ROWS and cfg.fold is not None
    norm = ds.fit_normalizer(np.arange(len(ds)) if all_rows else train_idx)
    spec = ProblemSpec.from_dataset(ds, train_idx)
    record = _base_record(cfg, profile, ds.task)
    record.update(n_train=len(train_idx), n_val=len(val_idx), n_test=len(test_idx))
    device = cfg.train.device
    record["provenance"] = _provenance(device, profile, hashes)
    options = {}
    if cfg.image_weights_sha256:
        options["image_weights"] = verified_weights(cfg.image_weights, cfg.image_weights_sha256)
        record["provenance"]["image_weights_sha256"] = cfg.image_weights_sha256

    from mdico_core.methods.external import check_on_problem, method_code

    record["method_code"] = method_code(cfg.method)  # yours: its source's hash; a built-in one: the git commit
    check_on_problem(cfg.method, spec, cfg.encoder)  # yours, on this dataset's own modality names
    seed_everything(cfg.seed)
    try:
        method = build_method(cfg.method, spec, cfg.encoder, cfg.variant, settings=cfg.settings, **options)
    except NotReproducedError as err:
        record.update(status="not_reproduced", message=str(err), wall_time_s=time.perf_counter() - t_start)
        return record, {}

    def rows(idx: np.ndarray) -> dict:
        x = norm.transform({m: v[idx] for m, v in ds.modalities.items()})
        return to_tensors(x, ds.target[idx], device)

    train, val, test = rows(train_idx), rows(val_idx), rows(test_idx)
    on_cuda = device.startswith("cuda")
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(torch.device(device))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        # delay: only long runs get an epoch bar; short ones would just flicker.
        epochs = sum(stage.cfg.max_epochs for stage in method.stages(cfg.train))
        bar = tqdm(total=epochs, desc=cfg.label(), unit="epoch", leave=False, delay=20)

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        if bar is not None:
            bar.set_postfix(val=f"{row['val/total']:.4g}", refresh=False)  # refresh would defeat `delay`
            bar.update(1)

    try:
        result = fit(method, train, val, cfg.train, seed=cfg.seed, on_epoch=on_epoch)
    finally:
        if bar is not None:
            bar.close()

    y_true = ds.target[test_idx]
    arrays: dict[str, np.ndarray] = {"test_idx": test_idx.astype(np.int64), "y_true": y_true}
    for view in method.views():
        use_view_weights(method, result, view)
        pred = predict(method, test["x"], view)
        record["metrics"][view] = {k: float(v) for k, v in score(ds.task, y_true, pred).items()}
        arrays[f"pred/{view}"] = pred.astype(np.float32)
        if cfg.save_features:
            try:
                arrays[f"feat/{view}"] = features(method, test["x"], view).astype(np.float16)
            except NotImplementedError:
                pass  # a method without a feature space for this view (e.g. a pretrained black box)

    if on_cuda:
        record["peak_memory_mb"] = torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
        record["memory_measure"] = "cuda_max_memory_allocated"
    else:
        record["peak_memory_mb"] = peak_rss_mb()
        record["memory_measure"] = "process_peak_rss"
    record.update(
        history=[{"epoch": i + 1, **row} for i, row in enumerate(result.history)],  # epochs count within a stage
        best_epoch=result.best_epoch, best_epochs=result.best_epochs, epochs_run=result.epochs_run,
        wall_time_s=result.wall_time_s,
    )
    record["provenance"]["total_time_s"] = time.perf_counter() - t_start  # loading + training + evaluation
    return record, arrays


def run_one(cfg: RunConfig, store: ResultsStore | None = None, profile: str = "", progress: bool = False) -> dict:
    """Train, evaluate and save `cfg`, or return its stored record if it is already done.

    A crash is written to the store's failure list (with the traceback) and re-raised; the next
    sweep retries it.
    """
    from mdico_core.methods.external import stale_reason

    store = store if store is not None else ResultsStore()
    rec = store.get(cfg)
    if rec is not None and stale_reason(rec) is None:  # a run of your method's older code is trained again
        return rec
    try:
        record, arrays = execute(cfg, profile=profile, progress=progress)
    except Exception as err:
        store.save_failure(cfg, f"{type(err).__name__}: {err}", tb.format_exc())
        raise
    store.save(record, arrays)
    return record


def confirm_failure(cfg: RunConfig, store: ResultsStore, profile: str = "") -> tuple[str, str | None]:
    """Re-run the crashed run `cfg` of `store` once more, in this process; returns (outcome, message).

    A run that fails again with the same message is an outcome of the code, not an accident of the
    sweep (a training that diverges, say): it is saved as a record of status "failed" with the full
    provenance of a finished run and both attempts' messages, which an archive export holds like a
    finished run and no sweep trains again ("failed twice"). A run that now succeeds is saved as done
    ("done"); one that fails differently replaces the old failure and is left to the next sweep
    ("failed differently"). Outcome "no failure" when the store records no crash of `cfg`.
    """
    from mdico_core.data import load_dataset

    path = store.failure_path(cfg)
    first = json.loads(path.read_text()) if path.is_file() else None
    if first is None:
        return "no failure", None
    t_start, started = time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        record, arrays = execute(cfg, profile=profile)
    except Exception as err:  # noqa: BLE001 -- the failure is what is recorded
        message, trace = f"{type(err).__name__}: {err}", tb.format_exc()
    else:
        store.save(record, arrays)
        return record["status"], record.get("message")
    if message != first.get("message"):
        store.save_failure(cfg, message, trace)
        return "failed differently", message
    full = load_dataset(cfg.dataset)
    ds = full.select(cfg.modalities) if cfg.modalities is not None else full
    sizes = ds.split_indices(cfg.fold, cfg.n_folds, cfg.effective_split_seed,
                             validation="test" if cfg.protocol in VALIDATES_ON_TEST else "split", by=cfg.folds_by)
    record = _base_record(cfg, profile, ds.task)
    record.update(status="failed", message=message, traceback=trace, wall_time_s=time.perf_counter() - t_start,
                  n_train=len(sizes[0]), n_val=len(sizes[1]), n_test=len(sizes[2]),
                  attempts=[{"message": first.get("message"), "timestamp": first.get("timestamp")},
                            {"message": message}])
    record["provenance"] = {**_provenance(cfg.train.device, profile, data_hashes(cfg.dataset, full)),
                            "timestamp": started, "total_time_s": time.perf_counter() - t_start}
    store.save(record)
    return "failed twice", message


def configure_threads(n: int | None = 1) -> None:
    """Limit this process to `n` CPU threads (workers share the machine's cores)."""
    if n is None:
        return
    os.environ.update(thread_env(n))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only settable before the first parallel op of the process
        pass
