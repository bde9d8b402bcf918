"""Where a run ran: the software and hardware that decide its floating-point results.

The same run (same id, same code, same seed) reproduces itself bit for bit on one machine, but
not across machines: CPUs of another model, another instruction set (AVX2 vs AVX-512 kernels),
another BLAS or oneDNN build, another thread count or a GPU sum in another order, and training
amplifies the last-bit differences into other epochs and other scores. Every run record
therefore carries `environment` in its provenance, and every row of ``ResultsStore.collect``
and of ``mdico export`` carries its `ENV_COLUMNS`; `environments` groups runs by them.
"""

from __future__ import annotations

import functools
import platform
import re
from pathlib import Path
from typing import Any

import pandas as pd

# The environment fields, in the order of the collect/export columns. Text except torch_threads.
ENV_COLUMNS = ("torch_version", "numpy_version", "python_version", "cpu_model", "cpu_capability", "blas", "onednn",
               "torch_threads", "cuda_device", "cuda_driver", "cuda_version", "cudnn_version")
ENV_TEXT_COLUMNS = tuple(c for c in ENV_COLUMNS if c != "torch_threads")
NVIDIA_PROC = Path("/proc/driver/nvidia/version")


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's marketing name ("model name" in /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:  # not Linux, or /proc not mounted
        pass
    return platform.processor() or platform.machine() or "unknown"


def torch_build(config: str) -> tuple[str | None, str | None]:
    """(BLAS, oneDNN) of the torch build, from the text of ``torch.__config__.show()``.

    BLAS is the build's ``BLAS_INFO`` (e.g. "mkl", "open", "accelerate"), followed by the
    library's own version line when the build lists one (MKL does); oneDNN is its version line
    (torch calls it "MKL-DNN"). None where the build says nothing.
    """
    lines = [ln.strip().lstrip("- ").strip() for ln in config.splitlines()]
    info = re.search(r"BLAS_INFO=([^,\s]+)", config)
    detail = next((ln for ln in lines if re.search(r"Math Kernel Library|OpenBLAS|\bBLIS\b", ln)), None)
    blas = info.group(1) if info else None
    if detail:
        blas = f"{blas}: {detail}" if blas else detail
    onednn = next((ln for ln in lines if re.search(r"MKL-DNN|oneDNN", ln)), None)
    return blas, onednn


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version (torch does not report it), from /proc or nvidia-smi."""
    try:
        m = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", NVIDIA_PROC.read_text())
        if m:
            return m.group(1)
    except OSError:
        pass
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else None


@functools.lru_cache(maxsize=8)
def _static(device: str) -> dict[str, Any]:
    import numpy as np
    import torch

    blas, onednn = torch_build(torch.__config__.show())
    env: dict[str, Any] = {
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "python_version": platform.python_version(), "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": blas, "onednn": onednn,
        "cuda_device": None, "cuda_driver": None, "cuda_version": None, "cudnn_version": None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        env.update(cuda_device=torch.cuda.get_device_name(torch.device(device)), cuda_driver=_nvidia_driver(),
                   cuda_version=torch.version.cuda, cudnn_version=None if cudnn is None else str(cudnn))
    return env


def environment(device: str = "cpu") -> dict[str, Any]:
    """The `ENV_COLUMNS` of a run on `device` in this process.

    Versions of torch, numpy and Python; the CPU model; the instruction set torch's CPU kernels
    dispatch to (``torch.backends.cpu.get_cpu_capability()``, e.g. "AVX2", "AVX512"); the BLAS
    and oneDNN builds; torch's intra-op thread count; and, on a CUDA device, its name, the driver,
    and the CUDA and cuDNN versions torch was built with (None on CPU, even where a GPU exists:
    they describe where the run computed, not the machine). Everything is computed once per
    process and device, except the thread count, which is read at each call because a worker may
    change it (``configure_threads``) after the first run.
    """
    import torch

    return {**_static(device), "torch_threads": torch.get_num_threads()}


def environments(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct environments of a frame of runs (``collect`` or ``read_runs``), with counts.

    One row per distinct combination of `ENV_COLUMNS` (missing values, e.g. of records written
    before they were recorded, form their own group) with "runs" (distinct run ids), "datasets"
    and "methods" (comma-separated) and the "first" and "last" timestamps; most runs first.
    Columns the frame lacks count as missing.
    """
    cols = list(ENV_COLUMNS)
    df = frame.reindex(columns=[*cols, "run_id", "dataset", "method", "timestamp"]).drop_duplicates("run_id")
    out_cols = [*cols, "runs", "datasets", "methods", "first", "last"]
    if df.empty:
        return pd.DataFrame(columns=out_cols)
    key = df[cols].astype(object).where(df[cols].notna(), None).astype(str)  # NaN/None/NA group as one
    rows = []
    for _, g in df.groupby([key[c] for c in cols], sort=False, dropna=False):
        first = g.iloc[0]
        stamps = g["timestamp"].dropna().astype(str)
        rows.append({**{c: (None if pd.isna(first[c]) else first[c]) for c in cols}, "runs": len(g),
                     "datasets": ", ".join(sorted(g["dataset"].dropna().astype(str).unique())),
                     "methods": ", ".join(sorted(g["method"].dropna().astype(str).unique())),
                     "first": stamps.min() if len(stamps) else None, "last": stamps.max() if len(stamps) else None})
    out = pd.DataFrame(rows, columns=out_cols)
    return out.sort_values("runs", ascending=False, kind="stable").reset_index(drop=True)
