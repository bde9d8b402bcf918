"""Train, with the frozen commit's own code, the runs an exported archive still lacks.

The archives are the code of one commit (`5425f0e`), which predates `mdico archive run` (that skips
what an exported archive holds). This script runs under that commit's code: it builds the configs its
`mdico run` would build and trains only those whose run ids the manifest lists as missing, with its
own sweep (processes, 2 workers, 1 torch thread each). Nothing is retrained; the order of the runs
is all it chooses.

    git worktree add --detach ../frozen 5425f0e
    python3 -m venv ../fvenv   # the frozen code first on the path, then this checkout's packages:
    echo $PWD/../frozen > ../fvenv/lib/python3.11/site-packages/0frozen.pth
    echo $PWD/.venv/lib/python3.11/site-packages > ../fvenv/lib/python3.11/site-packages/1main.pth
    MDICO_DATA_DIR=$PWD/data/cache ../fvenv/bin/python data/archived_runs/train_missing.py \
        data/archived_runs/lfmc_paper.json lfmc common 3 ../store_lfmc [methods]
    .venv/bin/mdico archive export lfmc_paper --results ../store_lfmc --partial

A run that crashed is retried by the next sweep. One that fails again the same way is an outcome of
the frozen code, not an accident: `--attest` re-runs each crashed run of the archive once more, in
this process, with one torch thread as the sweep's workers use, and, when it fails with the same message,
saves it as a record of status "failed" with the frozen commit's provenance (commit, machine,
environment, data hashes) and both attempts' messages. The export keeps such a run as held, and the
analyses drop its pairs with a note. A run that now succeeds is saved as done, like any other.

Usage: train_missing.py MANIFEST DATASET SETTING SEEDS STORE [METHODS]
       train_missing.py --attest MANIFEST STORE
"""
import json
import socket
import sys
import time
import traceback
from datetime import datetime, timezone

from mdico_core import cli
from mdico_core.experiments.executors import sweep


def attest(manifest: str, store_dir: str) -> None:
    import torch

    from mdico_core.data import load_dataset
    from mdico_core.experiments import runner
    from mdico_core.experiments.config import RunConfig
    from mdico_core.experiments.machine import environment
    from mdico_core.experiments.store import ResultsStore

    torch.set_num_threads(1)  # as the sweep's workers: the run must be the one that failed
    store = ResultsStore(store_dir)
    missing = set(json.load(open(manifest))["missing_run_ids"])
    for first in store.failures():
        if first.get("status") != "failed" or first["run_id"] not in missing:
            continue
        cfg = RunConfig.from_dict(first["config"])
        started, t0 = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
        try:
            record, arrays = runner.execute(cfg, profile="paper")
        except Exception as err:  # noqa: BLE001 -- the failure is what is recorded
            message, tb = f"{type(err).__name__}: {err}", traceback.format_exc()
        else:
            store.save(record, arrays)
            print(f"{cfg.run_id} ({cfg.label()}) succeeded on its second attempt: saved as {record['status']}")
            continue
        if message != first.get("message"):
            print(f"{cfg.run_id} ({cfg.label()}) failed again, differently ({message!r}, first {first.get('message')!r}):"
                  " left to the next sweep")
            continue
        ds = load_dataset(cfg.dataset)
        on_test = cfg.protocol in runner.VALIDATES_ON_TEST
        tr, va, te = ds.split_indices(cfg.fold, cfg.n_folds, cfg.effective_split_seed,
                                      validation="test" if on_test else "split")
        record = runner._base_record(cfg, "paper", ds.task)
        record.update(status="failed", message=message, traceback=tb, wall_time_s=time.perf_counter() - t0,
                      n_train=len(tr), n_val=len(va), n_test=len(te),
                      attempts=[{"message": first.get("message"), "traceback": first.get("traceback")},
                                {"message": message, "started": started}])
        record["provenance"] = {
            **runner.code_version(), "data_sha256": runner.data_hashes(cfg.dataset, ds), **environment("cpu"),
            "device": runner._device_name("cpu"), "profile": "paper", "hostname": socket.gethostname(),
            "timestamp": started, "total_time_s": time.perf_counter() - t0,
        }
        store.save(record)
        print(f"{cfg.run_id} ({cfg.label()}) failed twice the same way ({message}): saved as a failed run", flush=True)


def main() -> None:
    if sys.argv[1] == "--attest":
        attest(*sys.argv[2:4])
        return
    manifest, dataset, setting, seeds, store_dir = sys.argv[1:6]
    methods = sys.argv[6] if len(sys.argv) > 6 else "all"
    parser = cli.build_parser()
    args = parser.parse_args(["run", "--dataset", dataset, "--methods", methods, "--settings", setting, "--profile", "paper",
                              "--seeds", seeds, "--executor", "processes", "--workers", "2", "--threads", "1", "--quiet",
                              "--results", store_dir])
    profile, configs = cli._configs(args, parser)
    missing = set(json.load(open(manifest))["missing_run_ids"])
    todo = [c for c in configs if c.run_id in missing]
    print(f"{dataset} {setting} seeds {seeds}: {len(configs)} configs, {len(todo)} missing from the archive", flush=True)
    store = cli._store(args)
    report = sweep(todo, store=store, executor="processes", workers=2, scheduler=None, progress=False,
                   profile=profile.name, threads=1)
    print(report, flush=True)


if __name__ == "__main__":
    main()
