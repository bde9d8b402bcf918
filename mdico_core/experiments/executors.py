"""`sweep`: run many `RunConfig`s serially, on local processes, or on a Dask cluster.

Every executor runs the same `run_one` on the same configs, and each worker writes its record
into the store itself (a shared filesystem), so results do not depend on the executor and a
sweep interrupted at any point resumes where it stopped: finished runs are skipped, crashed runs
(``_failed/``) are retried.

Executors:

- ``"serial"``: in this process, one run after the other (the default; threads untouched).
- ``"processes"``: `workers` local processes (spawn start method), one CPU thread each.
- ``"dask"``: ``distributed.Client(scheduler)`` when a scheduler address is given; otherwise a
  ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` on 127.0.0.1.

Beyond one machine, start a Dask cluster on your batch system with dask-jobqueue and pass its
scheduler address (the workers must see the results folder and the data cache, and have
``mdico_core`` installed)::

    from dask_jobqueue import SLURMCluster          # or PBSCluster, SGECluster, ...
    cluster = SLURMCluster(cores=4, processes=4, memory="16GB", walltime="04:00:00",
                           job_extra_directives=["--gres=gpu:0"])
    cluster.scale(jobs=10)                           # 40 single-threaded workers
    sweep(configs, store=ResultsStore("/shared/results"), executor="dask",
          scheduler=cluster.scheduler_address)

or, from the shell: ``mdico run ... --executor dask --scheduler tcp://host:8786``. Set
``MDICO_DATA_DIR`` and ``MDICO_RESULTS_DIR`` (and ``MDICO_DATASETS`` for your own data, see
``mdico_core/data/custom.py``) in the workers' environment (e.g. SLURMCluster's
``job_script_prologue``).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.store import ResultsStore

EXECUTORS = ("serial", "processes", "dask")


@dataclass
class SweepReport:
    """What a sweep did: runs trained now, found already done, and crashed (retried next time)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    failed_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.done} run(s) done, {self.skipped} already in the store, {self.failed} failed "
                f"({self.wall_time_s:.1f} s)")


def _task(cfg_dict: dict, root: str, profile: str, threads: int | None) -> tuple[str, str, str | None]:
    """Worker entry point: one run into the store at `root`; returns (run_id, status, message)."""
    from mdico_core.experiments.runner import configure_threads

    configure_threads(threads)
    return _run_safely(RunConfig.from_dict(cfg_dict), ResultsStore(root), profile)


def _run_safely(cfg: RunConfig, store: ResultsStore, profile: str, progress: bool = False
                ) -> tuple[str, str, str | None]:
    """`run_one` that never raises: a crash costs only its run and is returned by value (and
    recorded in the store), so no exception has to be pickled across processes."""
    from mdico_core.experiments.runner import run_one

    try:
        _check_dataset(cfg.dataset)
    except ValueError as err:
        store.save_failure(cfg, str(err), traceback.format_exc())
        return cfg.run_id, "failed", str(err)
    try:
        rec = run_one(cfg, store, profile=profile, progress=progress)
    except Exception as err:  # run_one has recorded it with its traceback
        return cfg.run_id, "failed", f"{type(err).__name__}: {err}"
    return cfg.run_id, rec["status"], rec.get("message")


def _check_dataset(name: str) -> None:
    # Importing the registry loads the built-in loaders (and env-registered user data, if the
    # custom module is among them); a name registered only in the parent process is not there.
    from mdico_core.data import get_dataset_entry

    try:
        get_dataset_entry(name)
    except ValueError as err:
        raise ValueError(
            f"{err}. If {name!r} is your own dataset registered in the parent process, worker processes "
            "cannot see it: register it through the environment (MDICO_DATASETS, see mdico_core/data/custom.py) "
            "or use executor='serial'"
        ) from err


def _init_worker(threads: int) -> None:
    # torch's own pools are limited by configure_threads in _task; these variables reach the
    # libraries that read them later, and any process this worker starts.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def sweep(
    configs: Iterable[RunConfig],
    store: ResultsStore | None = None,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    profile: str = "",
    threads_per_worker: int | None = 1,
) -> SweepReport:
    """Run every config not yet in `store`; returns a `SweepReport`.

    Args:
        configs: the runs (duplicates are run once).
        store: where records go (default: `ResultsStore()`).
        executor: "serial", "processes" or "dask".
        workers: processes / Dask workers (default: the CPU count; 2 for a Dask LocalCluster).
        scheduler: Dask scheduler address ("tcp://host:8786"); None starts a local cluster.
        progress: a tqdm bar over runs, with ETA.
        profile: profile name recorded in each run's provenance.
        threads_per_worker: CPU threads of each process / local Dask worker (None: leave as is).
            An external Dask scheduler's workers keep their own setting.

    Records are identical across executors for the same thread count; the serial executor
    keeps this process's torch threads, so call ``torch.set_num_threads(1)`` to match workers
    exactly. A script (not a notebook) that uses ``executor="processes"`` must guard its entry
    point with ``if __name__ == "__main__":``, as the spawned workers re-import it.
    A killed worker (e.g. out of memory) stops the sweep; run it again to resume.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    store = store if store is not None else ResultsStore()
    t0 = time.perf_counter()
    unique = list({c.run_id: c for c in configs}.values())
    pending = [c for c in unique if not store.has(c)]
    report = SweepReport(skipped=len(unique) - len(pending))
    if store.root.is_dir():
        store.clean_tmp()
    if pending:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(pending), desc=f"runs ({executor})", unit="run")

        def done(run_id: str, status: str, message: str | None) -> None:
            if status == "failed":
                report.failed += 1
                report.failed_ids.append(run_id)
                if bar is not None:
                    bar.write(f"run {run_id} failed: {message}")
            else:
                report.done += 1
            if bar is not None:
                bar.set_postfix(failed=report.failed, refresh=False)
                bar.update(1)

        try:
            if executor == "serial":
                _serial(pending, store, profile, progress, done)
            elif executor == "processes":
                _processes(pending, store, profile, workers or os.cpu_count() or 1, threads_per_worker, done)
            else:
                _dask(pending, store, profile, workers, scheduler, threads_per_worker, done)
        finally:
            if bar is not None:
                bar.close()
    report.wall_time_s = time.perf_counter() - t0
    return report


def _serial(pending, store, profile, progress, done) -> None:
    for cfg in pending:
        done(*_run_safely(cfg, store, profile, progress))


def _processes(pending, store, profile, workers, threads, done) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # fork would copy the parent's torch thread pools and locks
    with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx,
                             initializer=_init_worker, initargs=(threads or 1,)) as pool:
        futures = [pool.submit(_task, c.to_dict(), str(store.root), profile, threads) for c in pending]
        for fut in as_completed(futures):
            done(*fut.result())


def _dask(pending, store, profile, workers, scheduler, threads, done) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise ImportError("executor='dask' needs dask.distributed: pip install 'mdico-core[distributed]'") from err

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, env={"OMP_NUM_THREADS": str(threads or 1)})
        client = Client(cluster)
    else:
        client = Client(scheduler)
        threads = None  # a remote cluster's workers were sized by whoever started them
    try:
        futures = [client.submit(_task, c.to_dict(), str(store.root), profile, threads, pure=False,
                                 key=f"mdico-run-{c.run_id}-{time.time_ns()}") for c in pending]
        for fut in as_completed(futures):
            done(*fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
