"""Where one LFMC MDiCo training epoch spends its time (issue 17): a wall-time breakdown by phase
and a ``torch.profiler`` table by operator, with the machine's matmul rate measured in the same run.

One run of fold 0, seed 0, batch 32, one thread, mirroring ``training.fit``'s step exactly
(``method.losses`` -> sum -> ``zero_grad`` -> ``backward`` -> fused Adam ``step``), then
``evaluate_losses`` on the validation rows. Every phase is timed with ``perf_counter`` around it
(one CPU thread: every op is synchronous, so the timer sees its cost); the medians of ``--repeats``
epochs are reported. A fixed per-step cost is estimated from the step time at batch 2, where the
arithmetic is negligible: it is what launching ~1,000 small operators from Python costs.

Usage::

    python benchmarks/profile_epoch.py [--method mdico] [--repeats 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import loadavg, matmul_rate, prepared, step_flops  # noqa: E402

from mdico_core.data import load_dataset  # noqa: E402
from mdico_core.methods import build_method  # noqa: E402
from mdico_core.training import TrainConfig, _batches, _take, evaluate_losses, make_optimizer  # noqa: E402

PHASES = ("batch", "forward", "sum", "zero_grad", "backward", "optimiser", "accumulate")


def timed_epoch(method, opt, train, val, batch_size: int, gen: torch.Generator) -> dict[str, float]:
    """One epoch of `fit`'s loop with every phase timed; seconds per phase for the epoch."""
    t = dict.fromkeys((*PHASES, "validation", "loop"), 0.0)
    clock = time.perf_counter
    method.train()
    sums: dict = {}
    t_epoch = clock()
    for idx in _batches(len(train["y"]), batch_size, gen, torch.device("cpu")):
        c0 = clock()
        batch = _take(train, idx)
        c1 = clock()
        terms = method.losses(batch)
        c2 = clock()
        total = torch.stack(list(terms.values())).sum()
        c3 = clock()
        opt.zero_grad(set_to_none=True)
        c4 = clock()
        total.backward()
        c5 = clock()
        opt.step()
        c6 = clock()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.detach() * len(idx)
        c7 = clock()
        for name, a, b in zip(PHASES, (c0, c1, c2, c3, c4, c5, c6), (c1, c2, c3, c4, c5, c6, c7)):
            t[name] += b - a
    c = clock()
    {k: float(v) for k, v in sums.items()}  # fit's one host sync per epoch
    t["accumulate"] += clock() - c
    t_train = clock() - t_epoch
    c = clock()
    evaluate_losses(method, val, batch_size)
    t["validation"] = clock() - c
    t["loop"] = t_train - sum(t[p] for p in PHASES)  # the batch generator, randperm, loop bookkeeping
    t["epoch"] = t_train + t["validation"]
    return t


def step_seconds(method, opt, train, batch_size: int, steps: int = 30) -> float:
    """Median seconds of one training step (forward, backward, Adam) at `batch_size`."""
    gen = torch.Generator().manual_seed(1)
    n = len(train["y"])
    out = []
    for i in range(steps + 3):
        idx = torch.randint(n, (batch_size,), generator=gen)
        c = time.perf_counter()
        terms = method.losses(_take(train, idx))
        opt.zero_grad(set_to_none=True)
        torch.stack(list(terms.values())).sum().backward()
        opt.step()
        if i >= 3:
            out.append(time.perf_counter() - c)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="mdico")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_before = loadavg()
    rate = matmul_rate()
    ds = load_dataset("lfmc")
    spec, train, val = prepared(ds, 0, 0)
    torch.manual_seed(0)
    method = build_method(args.method, spec)
    cfg = TrainConfig(batch_size=args.batch_size)
    opt = make_optimizer(method.parameters(), cfg)
    flops = step_flops(method, train, args.batch_size)
    n_steps = -(-len(train["y"]) // args.batch_size)
    gen = torch.Generator().manual_seed(0)
    timed_epoch(method, opt, train, val, args.batch_size, gen)  # warm-up (allocator, oneDNN primitives)
    epochs = [timed_epoch(method, opt, train, val, args.batch_size, gen) for _ in range(args.repeats)]
    med = {k: statistics.median(e[k] for e in epochs) for k in epochs[0]}
    step_small = step_seconds(method, opt, train, 2)
    step_full = step_seconds(method, opt, train, args.batch_size)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timed_epoch(method, opt, train, val, args.batch_size, gen)
    events = prof.key_averages()
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:18]
    total_self = sum(e.self_cpu_time_total for e in events)
    n_ops = sum(e.count for e in events if e.key.startswith("aten::"))
    load_after = loadavg()

    epoch = med["epoch"]
    ideal = flops * n_steps / rate
    lines = [
        f"# Where an LFMC {args.method} epoch goes (batch {args.batch_size}, 1 thread)",
        "",
        f"Machine: float32 matmul {rate / 1e9:.1f} GFLOP/s measured in this run; load average "
        f"{load_before} before, {load_after} after (2 cores shared with other work). "
        f"torch {torch.__version__}. Medians of {args.repeats} epochs after one warm-up epoch.",
        "",
        f"Epoch: {epoch:.3f} s for {n_steps} steps + validation ({len(val['y'])} rows); "
        f"training FLOPs {flops * n_steps / 1e9:.1f} G -> {flops * n_steps / epoch / rate:.1%} of the matmul rate "
        f"(the FLOPs alone at the matmul rate would take {ideal:.3f} s).",
        "",
        "| phase | s per epoch | share | ms per step |",
        "|---|---|---|---|",
    ]
    for k in (*PHASES, "loop", "validation"):
        lines.append(f"| {k} | {med[k]:.3f} | {med[k] / epoch:.1%} | {1e3 * med[k] / n_steps:.2f} |")
    lines += [
        "",
        f"One training step: {1e3 * step_full:.2f} ms at batch {args.batch_size}, {1e3 * step_small:.2f} ms at "
        f"batch 2 (arithmetic negligible): the fixed per-step cost is "
        f"{step_small / step_full:.0%} of a batch-{args.batch_size} step. "
        f"Useful arithmetic at the matmul rate: {1e3 * flops / rate:.2f} ms per step.",
        "",
        f"Profiler (one more epoch, profiled): {n_ops / n_steps:.0f} aten operator calls per step (validation "
        f"included, spread over the steps); self time of all profiled events {total_self / 1e6:.3f} s.",
        "",
        "| operator | calls per step | self ms per step | share of profiled self time |",
        "|---|---|---|---|",
    ]
    for e in top:
        lines.append(f"| {e.key} | {e.count / n_steps:.1f} | {e.self_cpu_time_total / 1e3 / n_steps:.3f} | "
                     f"{e.self_cpu_time_total / total_self:.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"profile_lfmc_{args.method}_b{args.batch_size}.md").write_text(text)


if __name__ == "__main__":
    main()
