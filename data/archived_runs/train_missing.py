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

Usage: train_missing.py MANIFEST DATASET SETTING SEEDS STORE [METHODS]
"""
import json
import sys

from mdico_core import cli
from mdico_core.experiments.executors import sweep


def main() -> None:
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
