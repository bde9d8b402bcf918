"""`sweep`: run many `RunConfig`s serially, on local processes, or on a Dask cluster.

Every executor runs the same code on the same configs with the same number of CPU threads per
run (`threads`, default 1), and each worker writes its record into the store itself (a shared
filesystem), so records do not depend on the executor, and a sweep interrupted at any point
resumes where it stopped: finished runs are skipped, crashed runs (``_failed/``) are retried.

Executors:

- ``"serial"``: in this process, one run after the other (the default).
- ``"processes"``: `workers` local processes (spawn start method).
- ``"dask"``: ``distributed.Client(scheduler)`` when a scheduler address is given; otherwise a
  ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` on 127.0.0.1.

Before the first run, the store is checked to be writable (a probe file in each folder it will
write), so that a full or read-only disk is found before hours of training rather than after.
Each run is claimed before it trains (see ``claims.py``): sweeps started at once on one store
(two terminals, several Dask clients) share the work, and a run claimed by another live sweep
is reported as such. Local workers (processes, a local Dask cluster) die with the sweep's
process. A dead worker or a store that stops accepting writes stops the sweep with
`SweepStopped`, which names the runs that did not finish; the same call resumes.

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
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mdico_core._util import thread_env
from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.store import ResultsStore, StoreNotWritableError
from mdico_core.options import EXECUTORS

Outcome = tuple  # (run_id, status, message): status "done" | "not_reproduced" | "failed" | "claimed" | ...


@dataclass
class SweepReport:
    """What a sweep did: runs trained now, found already done, crashed (retried next time), claimed by
    another sweep, and not finished because the sweep stopped."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    failed_ids: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)  # run id -> why it failed
    claimed: dict[str, str] = field(default_factory=dict)  # run id -> the claim's owner
    lost_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        s = (f"{self.done} run(s) done, {self.skipped} already in the store, {self.failed} failed "
             f"({self.wall_time_s:.1f} s)")
        if self.claimed:
            s += f"; {len(self.claimed)} being trained by another sweep"
        if self.lost_ids:
            s += f"; {len(self.lost_ids)} not finished"
        return s


class SchedulerUnreachable(ConnectionError):
    """The Dask scheduler named by the sweep did not answer; the message says where and what to do."""


class SweepStopped(RuntimeError):
    """The sweep stopped early (a worker died, or the store could not be written).

    Attributes:
        report: the `SweepReport` so far; ``report.lost_ids`` are the runs that did not finish.
    """

    def __init__(self, message: str, report: SweepReport):
        super().__init__(message)
        self.report = report


class _WorkerDied(Exception):
    pass


# ---------------------------------------------------------------------------------- one run
def _task(cfg_dict: dict, root: str, profile: str, threads: int | None, parent_pid: int | None = None) -> Outcome:
    """Worker entry point: one run into the store at `root`; returns (run_id, status, message)."""
    from mdico_core.experiments.runner import configure_threads

    if parent_pid is not None:
        _die_with_parent(parent_pid, prctl=False)
    configure_threads(threads)
    return _run_safely(RunConfig.from_dict(cfg_dict), ResultsStore(root), profile)


def is_current(store: ResultsStore, cfg: RunConfig) -> bool:
    """Whether `store` holds a run of `cfg` that no sweep must train again: it has a record (``store.has``),
    and, for a method of your own, one made by its current code (``external.stale_reason``): a stale one is
    trained again, its record replaced."""
    from mdico_core.methods.external import BUILTIN, stale_reason

    if not store.has(cfg) or cfg.method in BUILTIN:
        return store.has(cfg)
    rec = store.get(cfg)
    return rec is not None and stale_reason(rec) is None


def _run_safely(cfg: RunConfig, store: ResultsStore, profile: str, progress: bool = False) -> Outcome:
    """Claim, train, evaluate and save one run, never raising: a crash costs only its run and is
    returned by value (and recorded in the store), so no exception has to cross processes."""
    from mdico_core.experiments import runner

    try:
        _check_dataset(cfg.dataset)
    except ValueError as err:
        return _failed(store, cfg, str(err), traceback.format_exc())
    try:
        claim = store.claim(cfg)
    except OSError as err:
        return cfg.run_id, "store_error", f"cannot claim runs in the results store {store.root}: {err}"
    if claim is None:
        return cfg.run_id, "claimed", store.claim_owner(cfg) or "another sweep"
    with claim:
        if is_current(store, cfg):  # another sweep finished it between our look and our claim
            return cfg.run_id, "skipped", None
        try:
            record, arrays = runner.execute(cfg, profile=profile, progress=progress)
        except Exception as err:
            return _failed(store, cfg, f"{type(err).__name__}: {err}", traceback.format_exc())
        try:
            store.save(record, arrays)
        except StoreNotWritableError as err:
            return cfg.run_id, "store_error", str(err)
    return cfg.run_id, record["status"], record.get("message")


def _failed(store: ResultsStore, cfg: RunConfig, message: str, tb: str) -> Outcome:
    try:
        store.save_failure(cfg, message, tb)
    except StoreNotWritableError as err:
        return cfg.run_id, "store_error", f"{message} (not recorded: {err})"
    return cfg.run_id, "failed", message


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


# ---------------------------------------------------------------------------------- local workers
_WATCHING: set[int] = set()


def _die_with_parent(parent_pid: int, prctl: bool) -> None:
    """Make this worker exit when the sweep's process `parent_pid` dies, so that no orphan keeps
    training and writing records behind a resumed sweep.

    Linux: the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``; only where the
    worker was started by the thread that waits on it, as in a process pool). Everywhere: a
    daemon thread checks once a second whether the worker was re-parented.
    """
    if parent_pid in _WATCHING:
        return
    if os.getppid() != parent_pid:
        if prctl:  # a pool worker, whose parent died before it got here
            os._exit(1)
        return  # a Dask worker started by another process than the sweep's: not ours to stop
    _WATCHING.add(parent_pid)
    if prctl and sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died while prctl was being set
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="mdico-parent-watch").start()


def _init_worker(threads: int, parent_pid: int) -> None:
    # torch's own pools are limited by configure_threads in _task; these variables reach the
    # libraries that read them later, and any process this worker starts.
    os.environ.update(thread_env(threads))
    _die_with_parent(parent_pid, prctl=True)


# ---------------------------------------------------------------------------------- sweep
def sweep(
    configs: Iterable[RunConfig],
    store: ResultsStore | None = None,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    profile: str = "",
    threads: int | None = 1,
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
        threads: torch CPU threads of every run, whichever the executor (the thread count changes
            the numbers in the last digits, so it is fixed; recorded in each record's provenance).
            None leaves each process's setting as it is.

    Raises:
        StoreNotWritableError: the store cannot be written (found before any run trains).
        SweepStopped: a worker died, or the store stopped accepting writes; finished runs are
            saved, and the same call resumes with the others.

    A script (not a notebook) that uses ``executor="processes"`` must guard its entry point with
    ``if __name__ == "__main__":``, as the spawned workers re-import it.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be 1 or more, got {value}")
    store = store if store is not None else ResultsStore()
    t0 = time.perf_counter()
    unique = list({c.run_id: c for c in configs}.values())
    pending = [c for c in unique if not is_current(store, c)]
    report = SweepReport(skipped=len(unique) - len(pending))
    stop: list[str] = []
    if pending:
        store.check_writable(sorted({c.dataset for c in pending}))
        store.clean_tmp()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(pending), desc=f"runs ({executor})", unit="run")
        seen: set[str] = set()

        def done(run_id: str, status: str, message: str | None) -> bool:
            """Count one outcome; False once the sweep must stop."""
            seen.add(run_id)
            if status in ("failed", "store_error"):
                report.failed += 1
                report.failed_ids.append(run_id)
                report.messages[run_id] = message or ""
                if bar is not None:
                    bar.write(f"run {run_id} failed: {message}")
                if status == "store_error" and not stop:
                    stop.append(f"the results store cannot be written: {message}")
            elif status == "claimed":
                report.claimed[run_id] = message or ""
            elif status == "skipped":
                report.skipped += 1
            else:
                report.done += 1
            if bar is not None:
                bar.set_postfix(failed=report.failed, refresh=False)
                bar.update(1)
            return not stop

        try:
            if executor == "serial":
                _serial(pending, store, profile, progress, threads, done)
            elif executor == "processes":
                _processes(pending, store, profile, workers or os.cpu_count() or 1, threads, done)
            else:
                _dask(pending, store, profile, workers, scheduler, threads, done)
        except _WorkerDied as err:
            stop.append(f"a worker process died ({err}: killed, or out of memory?)")
        finally:
            if bar is not None:
                bar.close()
        report.lost_ids = [c.run_id for c in pending if c.run_id not in seen]
        by_id = {c.run_id: c for c in pending}
        for run_id in list(report.claimed):  # finished by their owner meanwhile
            if is_current(store, by_id[run_id]):
                del report.claimed[run_id]
                report.skipped += 1
    report.wall_time_s = time.perf_counter() - t0
    if stop:
        lost = [c.label() for c in pending if c.run_id in report.lost_ids]
        more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
        raise SweepStopped(
            f"{stop[0]}; the sweep stopped with {len(lost)} run(s) not finished"
            + (f" ({'; '.join(lost[:3])}{more})" if lost else "")
            + ". Finished runs are saved: re-run the same command to resume.", report)
    return report


def _serial(pending, store, profile, progress, threads, done: Callable[..., bool]) -> None:
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)  # as many as each worker of the other executors uses
    try:
        for cfg in pending:
            if not done(*_run_safely(cfg, store, profile, progress)):
                return
    finally:
        torch.set_num_threads(previous)


def _processes(pending, store, profile, workers, threads, done: Callable[..., bool]) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # fork would copy the parent's torch thread pools and locks
    pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx,
                               initializer=_init_worker, initargs=(threads or 1, os.getpid()))
    try:
        futures = [pool.submit(_task, c.to_dict(), str(store.root), profile, threads) for c in pending]
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except BrokenProcessPool as err:
                raise _WorkerDied("the process pool broke") from err
            if not done(*outcome):
                # The runs in progress could not be saved either: stop them now, not hours later.
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(pending, store, profile, workers, scheduler, threads, done: Callable[..., bool]) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError as err:
        raise ImportError("executor='dask' needs dask.distributed: pip install 'mdico-core[distributed]'") from err

    cluster, parent = None, None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, env=thread_env(threads or 1))
        client, parent = Client(cluster), os.getpid()  # local workers are this process's children
    else:
        timeout = float(os.environ.get("MDICO_DASK_TIMEOUT", "30"))
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as err:  # unreachable: say where, and how to get one
            raise SchedulerUnreachable(
                f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({type(err).__name__}); start one "
                "with `dask scheduler` (and `dask worker <address>` on each machine) or a dask-jobqueue cluster, "
                "check the address, or wait longer with MDICO_DASK_TIMEOUT=<seconds>") from None
    try:
        futures = {client.submit(_task, c.to_dict(), str(store.root), profile, threads, parent, pure=False,
                                 key=f"mdico-run-{c.run_id}-{time.time_ns()}"): c for c in pending}
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except KilledWorker as err:  # Dask retried it on other workers; each one died
                outcome = _failed(store, futures[fut], f"every worker that ran it died ({err}): out of memory?", "")
            if not done(*outcome):
                client.cancel(list(futures))
                return
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
