"""GPU check (issue 17): the LFMC paper protocol for MDiCo and Individual, trained stacked on one
device, scored, compared with the CPU archive within noise, and timed.

Every run is prepared as ``runner.execute`` prepares it (the paper protocol's split, z-score on the
training rows, balanced spec, ``seed_everything(seed)`` then ``build_method``), so the runs are
those of ``data/archived_runs/lfmc_paper.csv`` (10 folds x seeds 0-4 per method). A stackable method
trains in stacks of ``--stack`` runs with `fit_stacked` (one vmapped model); a method that is not
stackable, or whose training `fit_stacked` refuses, trains run by run with ``runner.execute`` on
the same device (the timings table says which).

**Within noise.** Stacked and CPU runs are not bit-identical (floating-point order, dropout draws,
the last partial batch of an epoch), so the check is statistical. For each (method, view) the
archive's spread over its runs (10 folds x its seeds) is sigma, the sd of R² across runs; each mean
of n runs carries noise sigma / sqrt(n). The check passes when the difference of the two means is
within 3 standard errors of a difference of two independent means:
``|mean_device - mean_archive| <= 3 sigma sqrt(1/n_device + 1/n_archive)``
(0.6 sigma for 50 runs each: 0.04 R² for MDiCo's Landsat-8 view). Both sets use the same folds and
seeds, so their difference is in fact smaller than two independent samples': the test is
conservative, yet a wrong model or a broken device path (R² off by 0.1) fails it. RMSE and MAE are
reported beside R², which alone decides.

Usage (from the repository root; `benchmarks/gpu_check.sh` wraps it)::

    python benchmarks/gpu_check.py                 # the full check: 100 runs on cuda
    python benchmarks/gpu_check.py --tiny          # 2 folds x 1 seed x 2 epochs, any device (a smoke test)

Writes ``gpu_check_<device>.json`` and ``.md`` (``gpu_check_tiny_<device>`` with ``--tiny``) to
``--out``; exits 1 when a full check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO / "data" / "archived_runs" / "lfmc_paper.csv"
Z = 3.0  # standard errors of a difference of two means that still count as noise


def device_matmul_rate(device: torch.device) -> float:
    """Dense float32 GEMM rate (FLOP/s) of `device`, best of 10 (TF32 off, as in the check)."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    sync()
    best = math.inf
    for _ in range(10):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def prepare(cfg, device: str):
    """(method, train, val, test_idx, test) of one run, as ``runner.execute`` builds them (keep in step
    with it: the split seed, a modality selection and the training settings where the config has them)."""
    from mdico_core.data import load_dataset
    from mdico_core.experiments.runner import seed_everything
    from mdico_core.methods import build_method
    from mdico_core.methods.base import ProblemSpec
    from mdico_core.training import to_tensors

    if cfg.protocol != "paper":
        raise ValueError("the GPU check runs the paper protocol only (the archive's)")
    ds = load_dataset(cfg.dataset)
    if getattr(cfg, "modalities", None) is not None:
        ds = ds.select(cfg.modalities)
    split_seed = getattr(cfg, "effective_split_seed", cfg.seed)
    train_idx, val_idx, test_idx = ds.split_indices(cfg.fold, cfg.n_folds, split_seed, validation="split")
    norm = ds.fit_normalizer(train_idx)
    spec = ProblemSpec.from_dataset(ds, train_idx)
    seed_everything(cfg.seed)
    settings = {"settings": cfg.settings} if hasattr(cfg, "settings") else {}
    method = build_method(cfg.method, spec, cfg.encoder, cfg.variant, **settings)

    def rows(idx):
        return to_tensors(norm.transform({m: v[idx] for m, v in ds.modalities.items()}), ds.target[idx], device)

    return method, rows(train_idx), rows(val_idx), test_idx, rows(test_idx)


def run_method(cfgs: list, stack: int) -> tuple[list[dict], dict]:
    """Train and score `cfgs` (one method); returns (one row per run, view and metric; timing)."""
    from mdico_core.data import load_dataset
    from mdico_core.experiments.runner import execute
    from mdico_core.metrics import score
    from mdico_core.stacking import fit_stacked, is_stackable
    from mdico_core.training import predict

    device = cfgs[0].train.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows, t0, epochs = [], time.perf_counter(), []
    stacked = is_stackable(prepare(cfgs[0], device)[0])
    why = "" if stacked else "not stackable"
    if stacked:
        y_all = load_dataset(cfgs[0].dataset).target
        try:
            for start in range(0, len(cfgs), stack):
                chunk = cfgs[start:start + stack]
                runs = [prepare(cfg, device) for cfg in chunk]
                results = fit_stacked([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs],
                                      chunk[0].train, [cfg.seed for cfg in chunk])
                for cfg, (method, _, _, test_idx, test), res in zip(chunk, runs, results):
                    epochs.append(res.epochs_run)
                    for view in method.views():
                        pred = predict(method, test["x"], view)
                        for metric, value in score("regression", y_all[test_idx], pred).items():
                            rows.append(_row(cfg, view, metric, value, res.epochs_run))
        except ValueError as err:  # e.g. stages fit_stacked does not run: train every run as the runner does
            print(f"{cfgs[0].method}: not stacked ({err})", file=sys.stderr)
            stacked, rows, epochs, why = False, [], [], str(err)
    if not stacked:  # the runner's own path, run by run on the same device
        for cfg in cfgs:
            record, _ = execute(cfg)
            epochs.append(record["epochs_run"])
            rows += [_row(cfg, view, metric, value, record["epochs_run"])
                     for view, metrics in record["metrics"].items() for metric, value in metrics.items()]
    sync()
    wall = time.perf_counter() - t0
    timing = {"method": cfgs[0].method, "runs": len(cfgs), "mode": f"stacked K={min(stack, len(cfgs))}" if stacked
              else f"run by run ({why})", "wall_s": round(wall, 1), "mean_epochs": round(float(np.mean(epochs)), 1),
              "max_epochs_run": int(max(epochs)), "s_per_run_epoch": round(wall / max(sum(epochs), 1), 4)}
    return rows, timing


def _row(cfg, view, metric, value, epochs) -> dict:
    return {"method": cfg.method, "fold": cfg.fold, "seed": cfg.seed, "view": view, "metric": metric,
            "value": float(value), "epochs_run": epochs}


def compare(device_rows: pd.DataFrame, archive: pd.DataFrame, z: float = Z) -> pd.DataFrame:
    """One row per (method, view, metric): both means, the archive's sd over runs, the paired mean
    difference, the tolerance ``z * sd * sqrt(1/n_device + 1/n_archive)`` and whether R² is within it."""
    arch = archive[(archive["status"] == "done") & archive["metric"].notna()]
    keys = ["method", "view", "metric"]
    out = []
    for (method, view, metric), dev in device_rows.groupby(keys):
        ref = arch[(arch["method"] == method) & (arch["view"] == view) & (arch["metric"] == metric)]
        if ref.empty:
            continue
        sd = float(ref["value"].std(ddof=1))
        tol = z * sd * math.sqrt(1 / len(dev) + 1 / len(ref))
        diff = float(dev["value"].mean() - ref["value"].mean())
        paired = dev.merge(ref, on=["fold", "seed"], suffixes=("", "_cpu"))
        out.append({"method": method, "view": view, "metric": metric, "n_device": len(dev), "n_archive": len(ref),
                    "mean_device": dev["value"].mean(), "mean_archive": ref["value"].mean(), "sd_archive": sd,
                    "difference": diff, "tolerance": tol,
                    "paired_difference": float((paired["value"] - paired["value_cpu"]).mean()) if len(paired) else
                    float("nan"),
                    "within_noise": abs(diff) <= tol if metric == "r2" else None})
    order = {"r2": 0, "rmse": 1, "mae": 2}
    return pd.DataFrame(out).sort_values(["method", "view", "metric"], key=lambda c: c.map(order).fillna(c) if
                                         c.name == "metric" else c, ignore_index=True) if out else pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--methods", default="mdico,individual")
    ap.add_argument("--stack", type=int, default=50, help="runs per stacked model (default: all 50 of a method)")
    ap.add_argument("--tiny", action="store_true", help="2 folds x 1 seed x 2 epochs: a smoke test, no verdict")
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    from mdico_core.experiments import load_profile

    device = torch.device(args.device)
    if device.type == "cuda":  # full float32, as on the CPU the archive was made on
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    rate = device_matmul_rate(device)
    profile = load_profile("paper")
    grid = {"folds": [0, 1], "seeds": [0]} if args.tiny else {}
    train = {"device": args.device, **({"max_epochs": 2} if args.tiny else {})}
    rows, timings = [], []
    t0 = time.perf_counter()
    for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
        cfgs = profile.configs("lfmc", [name], train=train, **grid)
        r, timing = run_method(cfgs, args.stack)
        rows += r
        timings.append(timing)
        print(f"{name}: {timing}", file=sys.stderr)
    total = time.perf_counter() - t0
    table = compare(pd.DataFrame(rows), pd.read_csv(args.archive))
    ok = bool(table["within_noise"].dropna().all())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    meta = {"device": f"{args.device} ({name})", "matmul_gflop_per_s": round(rate / 1e9, 1), "tf32": False,
            "torch": torch.__version__, "cuda": torch.version.cuda, "tiny": args.tiny,
            "runs": len({(r["method"], r["fold"], r["seed"]) for r in rows}), "total_s": round(total, 1),
            "verdict": "not judged (tiny)" if args.tiny else ("within noise" if ok else "OUTSIDE NOISE"),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tag = f"gpu_check_{'tiny_' if args.tiny else ''}{device.type}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{tag}.json").write_text(json.dumps({"meta": meta, "timings": timings,
                                                      "comparison": table.to_dict("records")}, indent=1))
    md = [f"# GPU check: LFMC paper protocol, {meta['runs']} runs on {meta['device']}", "",
          f"float32 matmul {meta['matmul_gflop_per_s']} GFLOP/s measured in this run (TF32 off); torch {meta['torch']}, "
          f"CUDA {meta['cuda']}; total {meta['total_s']} s = {meta['total_s'] / 60:.1f} min. Verdict: {meta['verdict']}.",
          "", pd.DataFrame(timings).to_markdown(index=False), "",
          table.round(4).to_markdown(index=False) if len(table) else "(no comparable rows)"]
    (args.out / f"{tag}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if (ok or args.tiny) else 1


if __name__ == "__main__":
    sys.exit(main())
