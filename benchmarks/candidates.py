"""Candidate speed-ups of the small-batch regime (issue 17), each measured against the code as it is,
interleaved in one run, with the machine's matmul rate measured in the same run.

LFMC, batch 32, one thread. Each candidate is timed over ``--rounds`` rounds of ``--steps`` training
steps, baseline and candidate alternating, and reported as the median of the per-round speed-ups
(robust to other load on a shared machine). The candidates:

1. **Fused encoders** (bit-identical): the four TempCNN encoders of MDiCo (two per modality: E^uni
   and E^com) run as one network of grouped convolutions, one BatchNorm per layer over the
   concatenated channels, dropout masks drawn in the original order; Individual's two likewise.
   Its bit-identity with the separate encoders is checked here over 20 steps.
2. **torch.compile** of ``method.losses`` (inductor, CPU, gcc): steady-state speed, the compile time
   with a cold and a warm on-disk cache (fresh processes), the recompilation for the epoch's last,
   smaller batch, and whether a new model in the same (worker) process recompiles.
3. **Validation batch**: the validation pass at batch 32 (as `fit`) against one batch of all rows;
   the ceiling of what a larger validation batch can save, as a share of the epoch.
4. **Layout and RNG of the elementwise work** (not bit-identical, so not candidates for the
   default): BatchNorm over (B, C, T) against (B*T, C), and dropout masks by ``bernoulli_``
   against ``rand <``, scaled to the calls of one MDiCo step.
5. **Channels-last TempCNN** (not bit-identical: other summation orders and dropout masks; the
   same function, checked in eval mode to float32 rounding): each TempCNN keeps its (B, T, C)
   layout, a convolution is one matrix product over the unfolded time windows, its BatchNorm runs
   on (B*T, C) and its dropout masks come from ``rand <``. The ceiling of the arithmetic-changing
   route, which would make every stored run stop reproducing.

Usage::

    python benchmarks/candidates.py [--rounds 7] [--steps 20] [--no-compile] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import loadavg, matmul_rate, prepared  # noqa: E402

from mdico_core.data import load_dataset  # noqa: E402
from mdico_core.encoders import TempCNN  # noqa: E402
from mdico_core.methods import build_method  # noqa: E402
from mdico_core.methods.individual import Individual  # noqa: E402
from mdico_core.methods.mdico import MDiCo  # noqa: E402
from mdico_core.training import TrainConfig, _take, evaluate_losses, make_optimizer  # noqa: E402


# ------------------------------------------------------------------------ candidate 1: fused encoders
def _bn(h, bns, training):
    """One BatchNorm over the channels of several BatchNorm1d modules; running statistics copied back."""
    rm, rv = torch.cat([b.running_mean for b in bns]), torch.cat([b.running_var for b in bns])
    out = F.batch_norm(h, rm, rv, torch.cat([b.weight for b in bns]), torch.cat([b.bias for b in bns]), training,
                       bns[0].momentum, bns[0].eps)
    if training:
        with torch.no_grad():
            for b, m, v in zip(bns, rm.split(len(rm) // len(bns)), rv.split(len(rv) // len(bns))):
                b.running_mean.copy_(m)
                b.running_var.copy_(v)
                b.num_batches_tracked.add_(1)
    return out


def fused_tempcnns(encs, xs, training):
    """``[e(x) for e, x in zip(encs, xs)]`` for TempCNNs of one shape, bit for bit, as one wide network."""
    n, (B, T, _) = len(encs), xs[0].shape
    hidden, n_layers, p = encs[0].convs[0].out_channels, len(encs[0].convs) // 4, encs[0].convs[3].p
    noise = []  # drawn in the order the separate encoders draw them: encoder by encoder, layer by layer
    if training:
        for e in encs:
            noise += [torch.empty(B, hidden, T).bernoulli_(1 - p).div_(1 - p) for _ in range(n_layers)]
            noise.append(torch.empty(B, e.dense[1].out_features).bernoulli_(1 - p).div_(1 - p))
    runs, i = [], 0  # layer 1: one convolution per distinct input, output channels concatenated
    while i < n:
        j = i
        while j + 1 < n and xs[j + 1] is xs[i]:
            j += 1
        cs = [encs[k].convs[0] for k in range(i, j + 1)]
        runs.append(F.conv1d(xs[i].transpose(1, 2), torch.cat([c.weight for c in cs]), torch.cat([c.bias for c in cs]),
                             padding=cs[0].padding))
        i = j + 1
    h = torch.cat(runs, 1)  # (B, n*hidden, T)
    for layer in range(n_layers):
        if layer:
            cs = [e.convs[4 * layer] for e in encs]
            h = F.conv1d(h, torch.cat([c.weight for c in cs]), torch.cat([c.bias for c in cs]), padding=cs[0].padding,
                         groups=n)
        h = F.relu(_bn(h, [e.convs[4 * layer + 1] for e in encs], training))
        if training:
            h = h * torch.cat([noise[k * (n_layers + 1) + layer] for k in range(n)], 1)
    hs = h.view(B, n, -1)
    h = torch.cat([F.linear(hs[:, k], e.dense[1].weight, e.dense[1].bias) for k, e in enumerate(encs)], 1)
    h = F.relu(_bn(h, [e.dense[2] for e in encs], training))
    if training:
        h = h * torch.cat([noise[k * (n_layers + 1) + n_layers] for k in range(n)], 1)
    hs = h.view(B, n, -1)
    return [e.proj(hs[:, k]) for k, e in enumerate(encs)]


class FusedMDiCo(MDiCo):
    def losses(self, batch):
        mods = list(self.modalities)
        encs = [e for m in mods for e in (self.unique[m], self.common[m])]
        out = fused_tempcnns(encs, [batch["x"][m] for m in mods for _ in range(2)], self.training)
        self._z = {m: (self.shared_proj[m](out[2 * k + 1]), out[2 * k][:, :self.d], out[2 * k][:, self.d:])
                   for k, m in enumerate(mods)}
        try:
            return super().losses(batch)
        finally:
            self._z = None

    def encode(self, x, m):
        return self._z[m] if getattr(self, "_z", None) else super().encode(x, m)


class FusedIndividual(Individual):
    def losses(self, batch):
        mods = list(batch["x"])
        out = fused_tempcnns([self.encoders[m] for m in mods], [batch["x"][m] for m in mods], self.training)
        terms = [self.task_loss(self.heads[m](o), batch["y"]) for m, o in zip(mods, out)]
        return {"main": sum(terms) / len(terms)}


# ------------------------------------------------------------------------ candidate 5: channels-last TempCNN
def _tempcnn_channels_last(enc: TempCNN, x: torch.Tensor) -> torch.Tensor:
    """``enc(x)`` with the same parameters, in (B, T, C) layout throughout the convolutional blocks."""
    h = x  # (B, T, C)
    blocks = list(enc.convs)
    for conv, bn, _, drop in zip(*[iter(blocks)] * 4):
        (k,), (pad,) = conv.kernel_size, conv.padding
        B, T, C = h.shape
        cols = F.pad(h, (0, 0, pad, pad)).unfold(1, k, 1)  # (B, T, C, k): each step's window
        h = F.linear(cols.reshape(B * T, C * k), conv.weight.reshape(conv.out_channels, -1), conv.bias)  # (B*T, O)
        h = F.relu(F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, enc.training, bn.momentum,
                                bn.eps))
        if enc.training:
            bn.num_batches_tracked.add_(1)
            h = h * (torch.rand_like(h) >= drop.p) / (1 - drop.p)
        h = h.reshape(B, T, -1)
    return enc.proj(enc.dense(h.transpose(1, 2).reshape(h.shape[0], -1)))  # flattened as (B, O, T), like enc


def channels_last(method):
    """`method` with every TempCNN encoder running `_tempcnn_channels_last` (in place)."""
    for mod in method.modules():
        if isinstance(mod, TempCNN):
            mod.forward = functools.partial(_tempcnn_channels_last, mod)
    return method


def same_function(cls, spec, train) -> float:
    """Largest |difference| of the eval-mode losses of `cls` as is and channels-last, same weights."""
    torch.manual_seed(0)
    a = cls(spec).eval()
    b = channels_last(copy.deepcopy(a)).eval()
    batch = _take(train, torch.arange(64))
    with torch.no_grad():
        ta, tb = a.losses(batch), b.losses(batch)
    return max(float((ta[k] - tb[k]).abs()) for k in ta)


# ------------------------------------------------------------------------ timing
def stepper(method, train, batch_size=32, losses=None):
    opt = make_optimizer(method.parameters(), TrainConfig())
    gen = torch.Generator().manual_seed(0)
    losses = losses or method.losses

    def step():
        idx = torch.randint(len(train["y"]), (batch_size,), generator=gen)
        terms = losses(_take(train, idx))
        opt.zero_grad(set_to_none=True)
        torch.stack(list(terms.values())).sum().backward()
        opt.step()
        return terms

    return step


def interleaved(fns: dict, rounds: int, reps: int) -> dict[str, tuple[float, float]]:
    """{name: (median ms per call, median per-round speed-up over the first entry)}."""
    for f in fns.values():
        for _ in range(3):
            f()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(reps):
                f()
            times[k].append((time.perf_counter() - t) / reps)
    base = times[next(iter(fns))]
    return {k: (1e3 * statistics.median(v), statistics.median(b / c for b, c in zip(base, v))) for k, v in times.items()}


def identical_steps(cls_a, cls_b, spec, train, steps=20) -> bool:
    torch.manual_seed(0)
    a = cls_a(spec)
    torch.manual_seed(0)
    b = cls_b(spec)
    sa, sb = stepper(a, train), stepper(b, train)
    for i in range(steps):
        torch.manual_seed(100 + i)
        ta = sa()
        torch.manual_seed(100 + i)
        tb = sb()
        if not all(torch.equal(ta[k], tb[k]) for k in ta):
            return False
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


COMPILE_CHILD = r"""
import sys, time, torch
sys.path.insert(0, sys.argv[1])
from bench_training import prepared
from mdico_core.data import load_dataset
from mdico_core.methods import build_method
from mdico_core.training import TrainConfig, _take, make_optimizer
torch.set_num_threads(1)
spec, train, _ = prepared(load_dataset("lfmc"), 0, 0)
def first_step(batch):
    torch.manual_seed(0)
    m = build_method("mdico", spec)
    opt, f = make_optimizer(m.parameters(), TrainConfig()), torch.compile(m.losses)
    t = time.perf_counter()
    terms = f(_take(train, torch.arange(batch)))
    torch.stack(list(terms.values())).sum().backward()
    opt.step()
    return time.perf_counter() - t
print(first_step(32), first_step(8), first_step(32))
"""


def compile_times(cache: str) -> list[float]:
    """Seconds of the first step at batch 32, then 8 (the last batch), then 32 with a new model."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", COMPILE_CHILD, str(Path(__file__).resolve().parent)], env=env,
                         capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()[-3:]]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_before, rate = loadavg(), matmul_rate()
    spec, train, val = prepared(load_dataset("lfmc"), 0, 0)
    lines = ["# Candidate speed-ups, LFMC batch 32, one thread (issue 17)", "",
             f"float32 matmul {rate / 1e9:.1f} GFLOP/s measured in this run; load average {load_before} before "
             "(other work shares the 2 cores); medians of per-round speed-ups, baseline and candidate alternating, "
             f"{args.rounds} rounds x {args.steps} steps.", ""]

    same_m = identical_steps(MDiCo, FusedMDiCo, spec, train)
    same_i = identical_steps(Individual, FusedIndividual, spec, train)
    torch.manual_seed(0)
    fns = {"MDiCo, as is": stepper(MDiCo(spec), train), "MDiCo, fused encoders": stepper(FusedMDiCo(spec), train),
           "Individual, as is": stepper(Individual(spec), train),
           "Individual, fused encoders": stepper(FusedIndividual(spec), train)}
    torch.manual_seed(0)
    fns["MDiCo, channels-last TempCNN"] = stepper(channels_last(MDiCo(spec)), train)
    torch.manual_seed(0)
    fns["Individual, channels-last TempCNN"] = stepper(channels_last(Individual(spec)), train)
    close = {"MDiCo, channels-last TempCNN": same_function(MDiCo, spec, train),
             "Individual, channels-last TempCNN": same_function(Individual, spec, train)}
    compiled = None
    if not args.no_compile:
        torch.manual_seed(0)
        m = build_method("mdico", spec)
        compiled = torch.compile(m.losses)
        fns["MDiCo, torch.compile"] = stepper(m, train, losses=compiled)
    res = interleaved(fns, args.rounds, args.steps)
    lines += ["| step | ms per step | speed-up (vs the method as is) | bit-identical |", "|---|---|---|---|"]
    for k, (ms, _) in res.items():
        ref = "MDiCo, as is" if k.startswith("MDiCo") else "Individual, as is"
        up = 1.0 if k == ref else res[k][1] / res[ref][1]
        ident = {"MDiCo, fused encoders": same_m, "Individual, fused encoders": same_i,
                 "MDiCo, torch.compile": "no (inductor draws its own dropout masks)",
                 **{c: f"no (same function: eval losses within {d:.1e}; other masks and sums)"
                    for c, d in close.items()}}.get(k, "–")
        lines.append(f"| {k} | {ms:.2f} | x{up:.2f} | {ident} |")

    if not args.no_compile:
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = compile_times(cache), compile_times(cache)
        lines += ["", "torch.compile costs (first step, seconds): cold on-disk cache "
                  f"{cold[0]:.1f} (batch 32) + {cold[1]:.1f} (recompiled for the last batch of 8) ; warm cache "
                  f"{warm[0]:.1f} + {warm[1]:.1f}; a new model in the same process: {warm[2]:.2f} (no recompilation)."]

    model = build_method("mdico", spec)
    ev = interleaved({"validation at batch 32 (as fit)": lambda: evaluate_losses(model, val, 32),
                      f"validation in one batch of {len(val['y'])}": lambda: evaluate_losses(model, val, 4096)},
                     args.rounds, 3)
    epoch_ms = res["MDiCo, as is"][0] * -(-len(train["y"]) // 32) + ev["validation at batch 32 (as fit)"][0]
    lines += ["", "| validation pass | ms | share of an MDiCo epoch |", "|---|---|---|"]
    lines += [f"| {k} | {ms:.1f} | {ms / epoch_ms:.1%} |" for k, (ms, _) in ev.items()]

    x3, x2, bn = torch.randn(32, 128, 4, requires_grad=True), torch.randn(128, 128, requires_grad=True), \
        torch.nn.BatchNorm1d(128)
    mask = torch.empty(32, 128, 4)
    micro = interleaved({"BatchNorm (B, C, T) fwd+bwd": lambda: bn(x3).sum().backward(),
                         "BatchNorm (B*T, C) fwd+bwd": lambda: bn(x2).sum().backward(),
                         "dropout mask bernoulli_": lambda: mask.bernoulli_(0.8),
                         "dropout mask rand <": lambda: torch.rand_like(mask) < 0.8}, args.rounds, 50)
    step_ms = res["MDiCo, as is"][0]
    lines += ["", "| elementwise work (20 BatchNorms and 16 dropout masks per MDiCo step) | ms per call | "
              "share of a step, scaled |", "|---|---|---|"]
    for k, (ms, _) in micro.items():
        calls = 20 if k.startswith("BatchNorm") else 16
        lines.append(f"| {k} | {ms:.3f} | {calls * ms / step_ms:.1%} |")
    lines += ["", f"Load average after: {loadavg()}."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "candidates_lfmc.md").write_text(text)


if __name__ == "__main__":
    main()
