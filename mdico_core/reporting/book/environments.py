"""Where the runs ran: the environments of every source of runs a book page reads, for the reproducibility page.

The same run (same id, code and seed) reproduces itself bit for bit on one machine, not across
machines (``experiments.machine``). So the reproducibility page groups the runs of each source (the
shipped archives and the reader's results store) by their environment (`environment_groups`, one
label per distinct environment over all sources), shows which pages read each (`environments_table`),
spells each environment out (`environment_legend`) and says what differs between them
(`environments_sentence`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.experiments.machine import ENV_COLUMNS, environments

ENV_NAMES = {"torch_version": "torch", "numpy_version": "numpy", "python_version": "Python", "cpu_model": "CPU",
             "cpu_capability": "instruction set", "blas": "BLAS", "onednn": "oneDNN", "torch_threads": "torch threads",
             "cuda_device": "GPU", "cuda_driver": "GPU driver", "cuda_version": "CUDA", "cudnn_version": "cuDNN"}


def _given(v: Any) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and np.isnan(v)) and str(v) != ""


def _text(v: Any) -> str:
    """A field as text; a whole number stays whole (a thread count read back as 2.0 is "2")."""
    return str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)


def short_build(text: Any) -> str | None:
    """A BLAS or oneDNN build line in short: ``"MKL 2024.2"``, ``"OpenBLAS 0.3.27"``, ``"oneDNN v3.12.0"``."""
    if not _given(text):
        return None
    s = str(text)
    for pattern, name in ((r"Math Kernel Library Version ([\w.]+)", "MKL"), (r"OpenBLAS\s+([\d.]+)", "OpenBLAS"),
                          (r"(?:MKL-DNN|oneDNN)\s+(v[\d.]+)", "oneDNN")):
        m = re.search(pattern, s)
        if m:
            return f"{name} {m.group(1).removesuffix('-Product')}"
    return s.split(":")[0].strip()


def describe_environment(env: Mapping[str, Any]) -> str:
    """An environment (the `machine.ENV_COLUMNS` of a run) in words: CPU, instruction set and threads;
    library versions; BLAS and oneDNN builds; the GPU or "no GPU". "not recorded" when no field is."""
    if not any(_given(env.get(c)) for c in ENV_NAMES):
        return "not recorded (runs made before the environment was recorded)"
    def val(key: str) -> str:
        return str(env[key]) if _given(env.get(key)) else "?"

    threads = env.get("torch_threads")
    n = int(threads) if _given(threads) else None
    cpu = f"{val('cpu_model')}, {val('cpu_capability')} kernels, " + (f"{n} torch thread{'s' * (n != 1)}" if n
                                                                         else "threads not recorded")
    libs = f"torch {val('torch_version')}, numpy {val('numpy_version')}, Python {val('python_version')}"
    builds = ", ".join(b for b in (short_build(env.get("blas")), short_build(env.get("onednn"))) if b) or "builds ?"
    gpu = (f"GPU {env['cuda_device']} (driver {val('cuda_driver')}, CUDA {val('cuda_version')}, cuDNN "
           f"{val('cudnn_version')})" if _given(env.get("cuda_device")) else "no GPU")
    return f"{cpu}; {libs}; {builds}; {gpu}"


def environment_groups(sources: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The environments of the runs of each source (``{label: tidy runs}``: an archive read with
    ``archive.read_runs``, the reader's store): one row per (source, environment), in source order.

    Columns: ``source``, ``env`` ("E1", "E2", ...: one label per distinct environment over every
    source, in order of first appearance), the columns of ``machine.environments`` (`ENV_COLUMNS`,
    runs, datasets, methods, first, last), ``devices`` (the runs' device text, which records older
    than the environment fields do have) and ``run_ids`` (a frozenset).
    """
    cols = list(ENV_COLUMNS)
    labels: dict[tuple[str, ...], str] = {}
    rows = []
    for source, frame in sources.items():
        per_run = frame.reindex(columns=[*cols, "run_id", "dataset", "method", "timestamp", "device"])
        per_run = per_run.drop_duplicates("run_id")
        if per_run.empty:
            continue
        text = per_run[cols].astype(object).where(per_run[cols].notna(), None).astype(str)  # as `environments` keys
        keys = pd.Series(list(zip(*(text[c] for c in cols))), index=per_run.index)
        for key, g in per_run.groupby(keys, sort=False):
            label = labels.setdefault(key, f"E{len(labels) + 1}")
            env = environments(g).iloc[0].to_dict()
            env["torch_threads"] = int(env["torch_threads"]) if _given(env["torch_threads"]) else None
            rows.append({"source": source, "env": label, **env,
                         "devices": ", ".join(sorted(g["device"].dropna().astype(str).unique())),
                         "run_ids": frozenset(g["run_id"])})
    out = pd.DataFrame(rows, columns=["source", "env", *cols, "runs", "datasets", "methods", "first", "last",
                                      "devices", "run_ids"])
    out["torch_threads"] = out["torch_threads"].astype("Int64")  # a count, missing where not recorded
    return out


def environments_table(groups: pd.DataFrame, pages: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """`environment_groups` as the reproducibility page shows it: which runs (source), the pages that show
    them, their environment (label and CPU, instruction set, threads, GPU), how many and when.

    `pages`: ``{source: {page: run ids of the page, or None for all of the source's runs}}``; a page is
    listed for an environment when it shows some of its runs.
    """
    def shown_on(r: Any) -> str:
        found = [p for p, ids in ((pages or {}).get(r.source) or {}).items() if ids is None or r.run_ids & set(ids)]
        return ", ".join(found) or "–"

    def when(r: Any) -> str:
        days = sorted({str(t)[:10] for t in (r.first, r.last) if _given(t)})
        return " to ".join(days) or "unknown"

    rows = []
    for r in groups.itertuples():
        env = r._asdict()
        threads = f"{int(r.torch_threads)} thr." if _given(r.torch_threads) else "threads ?"
        short = (f"{env['cpu_model']}, {env['cpu_capability']}, {threads}"
                 + (f", {env['cuda_device']}" if _given(env["cuda_device"]) else ", CPU only")
                 if _given(env["cpu_model"]) else f"not recorded ({r.devices or 'no device'})")
        rows.append({"runs of": r.source, "env.": r.env, "where": short, "runs": int(r.runs), "made": when(r),
                     "shown on": shown_on(r)})
    return pd.DataFrame(rows, columns=["runs of", "env.", "where", "runs", "made", "shown on"])


def environment_legend(groups: pd.DataFrame) -> str:
    """Each environment label of `environment_groups` in full, as a Markdown list."""
    seen = groups.drop_duplicates("env")
    return "\n".join(f"- **{r['env']}**: {describe_environment(r)}"
                     + (f" (device: {r['devices']})" if not _given(r.get("cpu_model")) and r["devices"] else "")
                     for _, r in seen.iterrows())


def environments_sentence(groups: pd.DataFrame) -> str:
    """In words: how many environments the runs come from, which sources ran where, what differs
    between the environments, and whether any used a GPU."""
    if groups.empty:
        return "No runs are shown, so no environment is named."
    envs = groups.drop_duplicates("env")
    where = "; ".join(f"{e}: {', '.join(dict.fromkeys(groups.loc[groups['env'] == e, 'source']))}"
                      for e in envs["env"])
    text = (f"The runs shown come from {len(envs)} environment{'s' * (len(envs) != 1)} ({where}).")
    recorded = envs[[any(_given(r[c]) for c in ENV_COLUMNS) for _, r in envs.iterrows()]]
    gpu_fields = ("cuda_device", "cuda_driver", "cuda_version", "cudnn_version")
    shown = {c: recorded[c].map(lambda v, gpu=c in gpu_fields: _text(v) if _given(v) else ("none" if gpu else None))
             for c in ENV_COLUMNS}
    gpu_differs = shown["cuda_device"].nunique() > 1  # then its driver and versions differ with it: said once
    differ = [f"{ENV_NAMES[c]} ({' / '.join(dict.fromkeys(shown[c].dropna()))})" for c in ENV_COLUMNS
              if shown[c].nunique(dropna=True) > 1 and not (gpu_differs and c in gpu_fields[1:])]
    if len(recorded) > 1:
        text += (f" They differ in {', '.join(differ)}." if differ else
                 " Their recorded fields are equal except where one lacks a field.")
    unrecorded = [e for e in envs["env"] if e not in set(recorded["env"])]
    if unrecorded:
        text += (f" {', '.join(unrecorded)} {'is' if len(unrecorded) == 1 else 'are'} not recorded: those runs were "
                 "written before records carried their environment (their device text is in the list below).")
    gpus = [f"{r['env']} ({r['cuda_device']})" for _, r in envs.iterrows() if _given(r["cuda_device"])]
    text += (f" GPU runs: {', '.join(gpus)}." if gpus else " None of these runs used a GPU.")
    return text


def gpu_sentence(groups: pd.DataFrame) -> str:
    """Where the runs shown used a GPU, which; otherwise that none did, and how a GPU run would show."""
    gpus = groups[[_given(v) for v in groups["cuda_device"]]] if len(groups) else groups
    if len(gpus):
        return ("GPU runs are among them: " + "; ".join(f"{r.env} ({r.cuda_device}, runs of {r.source})"
                                                         for r in gpus.drop_duplicates(["env", "source"]).itertuples())
                + ". A GPU run has its own run id (the device is part of its training configuration).")
    return ("No run shown here used a GPU: none was available to the machines that made these runs. A GPU run "
            "(`mdico run ... --device cuda`) would appear in the table above as one more environment, with its "
            "device, driver, CUDA and cuDNN; it has its own run id (the device is part of its training "
            "configuration), and `benchmarks/gpu_check.sh` compares a GPU sweep of LFMC with the CPU archive within "
            "its run-to-run spread.")


def book_sources(records: Sequence[Mapping[str, Any]], store_label: str, notebook_runs: Mapping[str, set[str]],
                 extra: Mapping[str, pd.DataFrame] | None = None) -> tuple[dict, dict]:
    """The sources of runs the book's pages read, for `environment_groups` and `environments_table`:
    every archive shipped in ``data/archived_runs`` (as "archive <name>", with the pages that show it),
    `extra` frames (label: runs, shown on the reproducibility page) and the reader's store (`records`,
    under `store_label`; `notebook_runs`: ``{page: its planned run ids}``). Returns (sources, pages)."""
    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.experiments.records import record_rows, tidy_frame
    from mdico_core.reporting.book.archive import archive_pages, read_runs
    from mdico_core.reporting.book.book_plan import REPRODUCIBILITY

    shown = archive_pages()
    sources: dict[str, pd.DataFrame] = {}
    pages: dict[str, dict[str, Any]] = {}
    for name, a in ARCHIVES.items():
        if a.csv_path.is_file():
            sources[f"archive {name}"] = read_runs(a.csv_path)
            pages[f"archive {name}"] = {p: None for p in shown.get(name, [])}
    for label, frame in (extra or {}).items():
        sources[label], pages[label] = frame, {REPRODUCIBILITY: None}
    sources[store_label] = tidy_frame([row for r in records for row in record_rows(r)])
    pages[store_label] = dict(notebook_runs)
    return sources, pages
