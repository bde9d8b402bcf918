"""Training speed against the machine's limit (issue 8): FLOPs, matmul rate, wall time, memory.

For MDiCo and Individual with the TempCNN encoder, on LFMC (real) and on a CropHarvest-sized
synthetic set (69,800 samples x 12 steps; S1 2 channels, S2 12 channels), this script

- counts the FLOPs of one training step (forward + backward) with ``torch.utils.flop_counter``
  and scales them to an epoch,
- measures the dense float32 matrix-multiply rate of this machine in the same run,
- times training epochs (single runs with `fit`, and K runs stacked with `fit_stacked`),
- and reports epoch wall time, samples/s, achieved FLOP/s as a fraction of the matmul rate, and
  peak memory (resident set size of the process).

Usage (a few minutes on 2 cores; ``--quick`` for a one-minute smoke run)::

    python benchmarks/bench_training.py [--threads 2] [--stack 10] [--quick] [--out benchmarks/results]

LFMC rows time whole `fit` epochs (validation included). CropHarvest-sized epochs are long on a
CPU, so those rows time ``--steps`` optimiser steps and scale them to an epoch (training only;
stated in the ``mode`` column), at the paper's batch 128 and at 1024. Comparisons are ratios
within one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mdico_core.data import load_dataset
from mdico_core.data.dataset import MultiModalDataset
from mdico_core.data.synthetic import make_synthetic
from mdico_core.experiments.runner import peak_rss_mb
from mdico_core.methods import ProblemSpec, build_method
from mdico_core.stacking import fit_stacked
from mdico_core.training import TrainConfig, fit, make_optimizer, to_tensors


def loadavg() -> str:
    """The 1-minute load average (how busy the machine was), or "n/a" off Linux."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """Dense float32 GEMM rate of this process (FLOP/s), best of `repeats`."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def prepared(ds: MultiModalDataset, fold: int, seed: int, n_folds: int = 10):
    tr, va, _ = ds.split_indices(fold, n_folds, seed)
    x = ds.fit_normalizer(tr).transform(ds.modalities)
    spec = ProblemSpec.from_dataset(ds, tr)
    sub = lambda idx: to_tensors({m: v[idx] for m, v in x.items()}, ds.target[idx])  # noqa: E731
    return spec, sub(tr), sub(va)


def step_flops(method, train, batch_size: int) -> int:
    """FLOPs of one optimiser step (forward + backward) at `batch_size`."""
    idx = torch.arange(batch_size)
    batch = {"x": {m: v[idx] for m, v in train["x"].items()}, "y": train["y"][idx]}
    method.train()
    with FlopCounterMode(display=False) as counter:
        total = torch.stack(list(method.losses(batch).values())).sum()
        total.backward()
    method.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def time_steps(method, train, batch_size: int, steps: int) -> float:
    """Seconds per optimiser step (forward, backward, Adam), after two warm-up steps."""
    cfg = TrainConfig(batch_size=batch_size)
    opt = make_optimizer(method.parameters(), cfg)
    gen = torch.Generator().manual_seed(0)
    n = len(train["y"])
    method.train()

    def step() -> None:
        idx = torch.randint(n, (batch_size,), generator=gen)
        terms = method.losses({"x": {m: v[idx] for m, v in train["x"].items()}, "y": train["y"][idx]})
        opt.zero_grad(set_to_none=True)
        torch.stack(list(terms.values())).sum().backward()
        opt.step()

    step()
    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def bench_case(ds: MultiModalDataset, method_name: str, batch_size: int, epochs: int, stack: int,
               steps: int | None, rate: float) -> list[dict]:
    """Rows for one (dataset, method): full `fit` epochs (validation included) when `steps` is
    None, else `steps` timed optimiser steps scaled to an epoch (training only); then K stacked."""
    rows = []
    spec, train, val = prepared(ds, 0, 0)
    torch.manual_seed(0)
    method = build_method(method_name, spec)
    flops = step_flops(method, train, batch_size)
    n_train = len(train["y"])
    steps_per_epoch = n_train // batch_size
    epoch_flops = flops * steps_per_epoch
    if steps is None:
        res = fit(method, train, val, TrainConfig(max_epochs=epochs, batch_size=batch_size, patience=0), seed=0)
        per_epoch, mode = res.wall_time_s / res.epochs_run, "single, fit epochs"
    else:
        per_epoch, mode = time_steps(method, train, batch_size, steps) * steps_per_epoch, f"single, {steps} steps"
    rows.append(_row(ds.name, method_name, mode, 1, batch_size, n_train, per_epoch, epoch_flops, rate))
    cfg = TrainConfig(max_epochs=epochs, batch_size=batch_size, patience=0, max_steps_per_epoch=steps)
    if stack > 1:
        methods, trains, vals = [], [], []
        for k in range(stack):
            spec_k, tr_k, va_k = prepared(ds, k % 10, k // 10)
            torch.manual_seed(k // 10)
            methods.append(build_method(method_name, spec_k))
            trains.append(tr_k)
            vals.append(va_k)
        t = time.perf_counter()
        results = fit_stacked(methods, trains, vals, cfg, [k // 10 for k in range(stack)])
        wall = time.perf_counter() - t
        run_epochs = sum(r.epochs_run for r in results)
        per_run_epoch = wall / run_epochs
        rows.append(_row(ds.name, method_name, f"stacked K={stack}, fit epochs", stack, batch_size, n_train, per_run_epoch,
                         epoch_flops, rate))
    return rows


def _row(dataset, method, mode, k, batch, n_train, per_run_epoch, epoch_flops, rate) -> dict:
    return {
        "dataset": dataset, "method": method, "mode": mode, "K": k, "batch_size": batch, "n_train": n_train,
        "s_per_run_epoch": round(per_run_epoch, 3), "samples_per_s": round(n_train / per_run_epoch, 1),
        "gflop_per_epoch": round(epoch_flops / 1e9, 2), "gflop_per_s": round(epoch_flops / per_run_epoch / 1e9, 2),
        "fraction_of_matmul": round(epoch_flops / per_run_epoch / rate, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--stack", type=int, default=10, help="K runs stacked (1 disables)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="steps timed per CropHarvest-sized epoch")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, few steps")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs = 1 if args.quick else args.epochs
    rate = matmul_rate()
    print(f"threads={args.threads}  float32 matmul rate: {rate / 1e9:.1f} GFLOP/s")
    rows = []
    lfmc = load_dataset("lfmc")
    for name in ("individual", "mdico"):
        rows += bench_case(lfmc, name, 32, epochs, args.stack, None, rate)
    big = make_synthetic("binary", n=69_800, shapes={"S1": (12, 2), "S2": (12, 12)}, seed=0)
    big.name = "cropharvest_sized_synthetic"
    for name in ("individual", "mdico"):
        rows += bench_case(big, name, 128, 1, 1, 5 if args.quick else args.steps, rate)
        rows += bench_case(big, name, 1024, 1, 1, 2 if args.quick else max(args.steps // 8, 3), rate)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "matmul_gflop_per_s": round(rate / 1e9, 1), "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "quick": args.quick,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "numpy": np.__version__}
    (args.out / f"training_t{args.threads}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (args.out / f"training_t{args.threads}.md").write_text(
        f"threads={args.threads}, matmul {meta['matmul_gflop_per_s']} GFLOP/s, torch {meta['torch']}\n\n{table}\n")


if __name__ == "__main__":
    main()
