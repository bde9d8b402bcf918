"""Training speed against the machine's limit (issues 8, 17, 19): FLOPs, matmul rate, wall time, memory.

For MDiCo and Individual with the TempCNN encoder, on LFMC (real) and on a CropHarvest-sized
synthetic set (69,800 samples x 12 steps; S1 2 channels, S2 12 channels), this script

- counts the FLOPs of one training step (forward + backward) with ``torch.utils.flop_counter``
  and scales them to an epoch,
- times training epochs (single runs with `fit`, and K runs stacked with `fit_stacked`),
- measures the dense float32 matrix-multiply rate of this machine right before and right after
  each timed case, in the same process, and divides by their mean: the **fraction of the matmul
  rate** is the figure that travels between machines and loads; the seconds do not,
- and reports each case's peak resident memory and its private memory at the end (Linux), each
  case in a fresh process, as one worker of a sweep would have.

Usage (a few minutes on 2 cores; ``make bench`` runs it; ``--quick`` for a one-minute smoke run)::

    python benchmarks/bench_training.py [--threads 1] [--stack 10] [--quick] [--out DIR] [--name NAME]

LFMC rows time whole `fit` epochs (validation included). CropHarvest-sized epochs are long on a
CPU, so those rows time ``--steps`` optimiser steps and scale them to an epoch (training only;
stated in the ``mode`` column), at the paper's batch 128 and at 1024.

Memory columns: ``peak_rss_mb`` is the case process's peak resident set (``getrusage``), which
counts torch's library pages in full (with the CUDA wheel ~470 MB more than with the CPU-only wheel:
its CUDA libraries load even without a GPU); ``private_mb`` is the memory only this process can hold
at the end (``/proc/self/smaps_rollup``, private dirty pages), i.e. what each extra worker adds on
top of the library pages that all workers share.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mdico_core.data.dataset import MultiModalDataset
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


def private_mb() -> float | None:
    """Memory no other process can share (private dirty pages: heap, tensors, modified pages), in MiB;
    None off Linux. Clean library pages are left out: they are page cache, shared by every worker."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:])
    except OSError:
        return None
    return int(fields["Private_Dirty"].split()[0]) / 1024


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


def dataset(name: str) -> MultiModalDataset:
    if name == "lfmc":
        from mdico_core.data import load_dataset

        return load_dataset("lfmc")
    from mdico_core.data.synthetic import make_synthetic

    big = make_synthetic("binary", n=69_800, shapes={"S1": (12, 2), "S2": (12, 12)}, seed=0)
    big.name = "cropharvest_sized_synthetic"
    return big


def bench_case(ds_name: str, method_name: str, batch_size: int, epochs: int, stack: int, steps: int | None,
               threads: int) -> dict:
    """One row, in the calling (fresh) process: `stack` == 1 times single runs (whole `fit` epochs,
    validation included, when `steps` is None, else `steps` optimiser steps scaled to an epoch,
    training only); `stack` > 1 times K runs stacked with `fit_stacked`."""
    torch.set_num_threads(threads)
    ds = dataset(ds_name)
    spec, train, val = prepared(ds, 0, 0)
    torch.manual_seed(0)
    method = build_method(method_name, spec)
    epoch_flops = step_flops(method, train, batch_size) * (len(train["y"]) // batch_size)
    cfg = TrainConfig(max_epochs=epochs, batch_size=batch_size, patience=0, max_steps_per_epoch=steps)
    if stack > 1:
        methods, trains, vals = [], [], []
        for k in range(stack):
            spec_k, tr_k, va_k = prepared(ds, k % 10, k // 10)
            torch.manual_seed(k // 10)
            methods.append(build_method(method_name, spec_k))
            trains.append(tr_k)
            vals.append(va_k)
    rate_before = matmul_rate()
    if stack > 1:
        t = time.perf_counter()
        results = fit_stacked(methods, trains, vals, cfg, [k // 10 for k in range(stack)])
        per_epoch = (time.perf_counter() - t) / sum(r.epochs_run for r in results)
        mode = f"stacked K={stack}, fit epochs"
    elif steps is None:
        res = fit(method, train, val, cfg, seed=0)
        per_epoch, mode = res.wall_time_s / res.epochs_run, "single, fit epochs"
    else:
        per_epoch, mode = time_steps(method, train, batch_size, steps) * (len(train["y"]) // batch_size), \
            f"single, {steps} steps"
    rate = (rate_before + matmul_rate()) / 2
    n_train = len(train["y"])
    private = private_mb()
    return {
        "dataset": ds.name, "method": method_name, "mode": mode, "K": stack, "batch_size": batch_size,
        "n_train": n_train, "s_per_run_epoch": round(per_epoch, 3), "samples_per_s": round(n_train / per_epoch, 1),
        "gflop_per_epoch": round(epoch_flops / 1e9, 2), "gflop_per_s": round(epoch_flops / per_epoch / 1e9, 2),
        "matmul_gflop_per_s": round(rate / 1e9, 1), "fraction_of_matmul": round(epoch_flops / per_epoch / rate, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "private_mb": None if private is None else round(private, 1),
    }


def in_fresh_process(*args) -> dict:
    """`bench_case(*args)` in a new process, so that its memory is its own, as a sweep worker's."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bench_case, *args).result()


def markdown(rows: list[dict]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per case (a sweep worker has 1)")
    ap.add_argument("--stack", type=int, default=10, help="K runs stacked (1 disables)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="steps timed per CropHarvest-sized epoch")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, few steps, no stacking")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--name", default=None, help="file name of the table (default: training_t<threads>)")
    args = ap.parse_args(argv)
    epochs, stack = (1, 1) if args.quick else (args.epochs, args.stack)
    cases = []
    for name in ("individual", "mdico"):
        cases.append(("lfmc", name, 32, epochs, 1, None))
        if stack > 1:
            cases.append(("lfmc", name, 32, epochs, stack, None))
    for name in ("individual", "mdico"):
        cases.append(("cropharvest", name, 128, 1, 1, 5 if args.quick else args.steps))
        cases.append(("cropharvest", name, 1024, 1, 1, 2 if args.quick else max(args.steps // 8, 3)))
    load_before, t0 = loadavg(), time.perf_counter()
    rows = []
    for case in cases:
        rows.append(in_fresh_process(*case, args.threads))
        print(f"{case[0]} {case[1]} {rows[-1]['mode']} batch {case[2]}: {rows[-1]['fraction_of_matmul']:.1%} of "
              f"the matmul rate", flush=True)
    meta = {"threads": args.threads, "torch": torch.__version__, "numpy": np.__version__,
            "machine": platform.processor() or platform.machine(), "cpu_capability":
            torch.backends.cpu.get_cpu_capability(), "quick": args.quick, "load_before": load_before,
            "load_after": loadavg(), "wall_s": round(time.perf_counter() - t0, 1),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S")}
    rates = [r["matmul_gflop_per_s"] for r in rows]
    head = (f"threads={args.threads}, float32 matmul {min(rates)}-{max(rates)} GFLOP/s (measured around each case, "
            f"in its process), torch {meta['torch']} ({meta['cpu_capability']}), load average "
            f"{meta['load_before']} -> {meta['load_after']}, {meta['wall_s']} s")
    table = markdown(rows)
    print(f"\n{head}\n\n{table}")
    name = args.name or f"training_t{args.threads}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (args.out / f"{name}.md").write_text(f"{head}\n\n{table}\n")


if __name__ == "__main__":
    main()
