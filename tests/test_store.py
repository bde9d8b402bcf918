"""The results store: atomic records, reading back, failures, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mdico_core.experiments import ResultsStore, RunConfig, sweep, train_config
from mdico_core.experiments import claims as claims_mod
from mdico_core.experiments import store as store_mod

REPO = Path(__file__).resolve().parents[1]


def _cfg(seed: int = 0, method: str = "individual") -> RunConfig:
    return RunConfig("toy_regression", method, seed=seed, train=train_config({"max_epochs": 1}))


def _record(cfg: RunConfig, value: float = 0.5) -> dict:
    return {"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "message": None,
            "task": "regression", "metrics": {"S1": {"r2": value, "rmse": 1.0}, "S2": {"r2": value / 2}},
            "history": [{"epoch": 1, "train/main": 1.0, "val/total": 2.0},
                        {"epoch": 2, "train/main": 0.5, "val/total": 1.5}],
            "best_epoch": 2, "epochs_run": 2, "wall_time_s": 0.1, "provenance": {"profile": "smoke"}}


def test_save_get_arrays_history_collect(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = _cfg()
    assert not st.has(cfg) and st.get(cfg) is None
    arrays = {"test_idx": np.arange(3), "y_true": np.ones(3, np.float32),
              "pred/S1": np.zeros(3, np.float32), "pred/S1:shared": np.full(3, 2, np.float32)}
    st.save(_record(cfg), arrays)
    assert st.has(cfg)
    assert st.get(cfg)["metrics"]["S1"]["r2"] == 0.5
    assert st.get(cfg.run_id) == st.get(cfg)
    back = st.arrays(cfg.run_id)
    assert set(back) == set(arrays)
    np.testing.assert_array_equal(back["pred/S1:shared"], arrays["pred/S1:shared"])
    hist = st.history(cfg)
    assert list(hist["epoch"]) == [1, 2] and list(hist["val/total"]) == [2.0, 1.5]
    df = st.collect()
    assert len(df) == 3  # S1: r2, rmse; S2: r2
    row = df[(df["view"] == "S1") & (df["metric"] == "r2")].iloc[0]
    assert (row["run_id"], row["dataset"], row["method"], row["fold"], row["seed"], row["value"]) == (
        cfg.run_id, "toy_regression", "individual", 0, 0, 0.5)
    assert row["profile"] == "smoke" and row["status"] == "done"
    with pytest.raises(KeyError, match="no record"):
        st.arrays("0123456789abcdef")


def test_record_must_match_its_config(tmp_path):
    rec = _record(_cfg())
    rec["run_id"] = "0" * 16
    with pytest.raises(ValueError, match="does not match"):
        ResultsStore(tmp_path).save(rec)


def test_crash_while_writing_leaves_no_record(tmp_path, monkeypatch):
    st = ResultsStore(tmp_path)
    cfg = _cfg()

    def broken_dumps(obj):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "dumps", broken_dumps)
    with pytest.raises(OSError, match="disk full"):
        st.save(_record(cfg), {"y_true": np.ones(2)})
    assert not st.has(cfg) and st.records() == [] and st.collect().empty
    # The arrays landed first; without their JSON they are not a record, and no temp file remains.
    assert sorted(p.name for p in (tmp_path / cfg.dataset).iterdir()) == [f"{cfg.run_id}.npz"]


def test_failures_and_retry(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = _cfg(seed=1)
    st.save_failure(cfg, "RuntimeError: boom", "Traceback ...")
    fails = st.failures()
    assert [(f["run_id"], f["status"], f["message"]) for f in fails] == [(cfg.run_id, "failed", "RuntimeError: boom")]
    assert not st.has(cfg)  # a failure is not a record: the next sweep retries it
    st.save(_record(cfg))
    assert st.failures() == [] and not st.failure_path(cfg).exists()
    nr = {**_record(_cfg(seed=2)), "status": "not_reproduced", "message": "weights absent", "metrics": {}}
    st.save(nr)
    assert [(f["status"], f["message"]) for f in st.failures()] == [("not_reproduced", "weights absent")]
    row = st.collect().query("status == 'not_reproduced'").iloc[0]
    assert row["message"] == "weights absent" and np.isnan(row["value"])


def test_clean_tmp(tmp_path):
    st = ResultsStore(tmp_path)
    stale = tmp_path / "toy_regression" / ".abc.json.x.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_text("{")
    assert st.records() == []
    assert st.clean_tmp(older_than_s=60) == 0
    os.utime(stale, (time.time() - 120, time.time() - 120))
    assert st.clean_tmp(older_than_s=60) == 1 and not stale.exists()


def test_default_root_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MDICO_RESULTS_DIR", str(tmp_path / "r"))
    assert ResultsStore().root == tmp_path / "r"


# ---------------------------------------------------------------------------------- SIGKILL
N_RUNS = 4
SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from mdico_core.experiments import ResultsStore, RunConfig, sweep, train_config
    train = train_config({"max_epochs": int(sys.argv[2]), "batch_size": 32, "patience": 0})
    cfgs = [RunConfig("toy_regression", "individual", seed=s, train=train) for s in range(int(sys.argv[3]))]
    print(sweep(cfgs, ResultsStore(sys.argv[1]), progress=False), flush=True)
""")


def _configs(epochs: int) -> list[RunConfig]:
    train = train_config({"max_epochs": epochs, "batch_size": 32, "patience": 0})
    return [RunConfig("toy_regression", "individual", seed=s, train=train) for s in range(N_RUNS)]


@pytest.mark.slow
def test_sweep_resumes_after_sigkill(tmp_path):
    root = tmp_path / "results"
    epochs = 4  # about 0.7 s per run on one core
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(root), str(epochs), str(N_RUNS)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = root / "toy_regression"
    try:
        deadline = time.time() + 120
        while not list(folder.glob("*.json")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "no run finished in 120 s"
            time.sleep(0.05)
        time.sleep(0.3)  # the next run is now training
        assert proc.poll() is None, "the sweep finished before it could be killed; raise `epochs`"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    st = ResultsStore(root)
    finished = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if not p.name.startswith(".")}
    records = st.records()
    assert 1 <= len(records) < N_RUNS
    # Only complete records are visible: each JSON parses and its arrays are there.
    for rec in records:
        assert rec["status"] == "done" and st.arrays(rec["run_id"])["y_true"].shape == (rec["n_test"],)
    for p in folder.glob("*.json"):
        json.loads(p.read_text())

    report = sweep(_configs(epochs), st, progress=False)
    assert report.skipped == len(records) and report.done == N_RUNS - len(records) and report.failed == 0
    assert len(st.records()) == N_RUNS
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if not p.name.startswith(".")}
    assert all(after[name] == mtime for name, mtime in finished.items())  # nothing finished was recomputed
    again = sweep(_configs(epochs), st, progress=False)
    assert (again.done, again.skipped) == (0, N_RUNS)


# ---------------------------------------------------------------------------------- corrupt records
def _saved(st: ResultsStore, seed: int = 0) -> RunConfig:
    cfg = _cfg(seed=seed)
    st.save(_record(cfg), {"test_idx": np.arange(3), "y_true": np.ones(3, np.float32)})
    return cfg


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("which", ["json", "npz", "not_a_record"])
def test_unreadable_record_is_moved_aside_and_not_counted_as_done(tmp_path, which):
    st = ResultsStore(tmp_path)
    cfg, other = _saved(st, 0), _saved(st, 1)
    if which == "json":
        _truncate(st.record_path(cfg))
    elif which == "npz":
        _truncate(st.arrays_path(cfg))
    else:
        st.record_path(cfg).write_text('["valid JSON, but not a record"]')
    with pytest.warns(store_mod.CorruptRecordWarning, match=str(st.record_path(cfg))):
        assert not st.has(cfg)
    # moved aside with its arrays, out of the way of the re-run
    assert not st.record_path(cfg).exists() and not st.arrays_path(cfg).exists()
    aside = st.corrupt()
    assert [p.name for p in aside] == [f"{cfg.run_id}.json"] and aside[0].is_file()
    assert (aside[0].parent / f"{cfg.run_id}.npz").is_file()
    assert [r["run_id"] for r in st.records()] == [other.run_id]
    assert set(st.collect()["run_id"]) == {other.run_id} and st.get(cfg) is None
    # a new record for the run clears it from the list of corrupt ones
    st.save(_record(cfg))
    assert st.has(cfg) and st.corrupt() == []


def test_reading_a_corrupt_store_names_the_file_and_never_raises(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = _saved(st)
    bad = st.record_path(cfg)
    _truncate(bad)
    with pytest.warns(store_mod.CorruptRecordWarning) as caught:
        assert st.records() == [] and st.collect().empty and st.failures() == []
    assert str(bad) in str(caught[0].message) and "re-run" in str(caught[0].message)
    fail = _cfg(seed=5)
    st.save_failure(fail, "RuntimeError: boom")
    _truncate(st.failure_path(fail))
    with pytest.warns(store_mod.CorruptRecordWarning, match="_failed"):
        assert st.failures() == []


def test_corrupt_array_data_is_named_when_read(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = _saved(st)
    npz = st.arrays_path(cfg)
    data = bytearray(npz.read_bytes())
    data[len(data) // 3] ^= 0xFF  # the zip directory is intact, one array's bytes are not
    npz.write_bytes(bytes(data))
    with pytest.raises(store_mod.CorruptRecordError, match=str(npz)), pytest.warns(store_mod.CorruptRecordWarning):
        st.arrays(cfg)
    assert not st.has(cfg) and st.corrupt()


def test_a_sweep_reruns_a_truncated_record(tmp_path):
    st = ResultsStore(tmp_path)
    cfgs = _configs(1)[:2]
    assert sweep(cfgs, st, progress=False).done == 2
    _truncate(st.record_path(cfgs[0]))
    with pytest.warns(store_mod.CorruptRecordWarning):
        report = sweep(cfgs, st, progress=False)
    assert (report.done, report.skipped, report.failed) == (1, 1, 0)
    assert st.has(cfgs[0]) and st.corrupt() == []


# ---------------------------------------------------------------------------------- writability
def test_store_under_a_file_is_refused_before_any_run(tmp_path, monkeypatch):
    from mdico_core.experiments import runner

    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a run trained"))
    (tmp_path / "file").write_text("")
    st = ResultsStore(tmp_path / "file" / "results")
    with pytest.raises(store_mod.StoreNotWritableError, match="not writable"):
        sweep(_configs(1)[:1], st, progress=False)


def test_check_writable_leaves_nothing_behind(tmp_path):
    st = ResultsStore(tmp_path / "new")
    st.check_writable(["toy_regression"])
    assert [p for p in (tmp_path / "new").rglob("*") if p.is_file()] == []


# ---------------------------------------------------------------------------------- claims
def _lock(st: ResultsStore, cfg: RunConfig, **owner) -> Path:
    path = st.claim_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": time.time(), "token": "x", **owner}))
    return path


def test_claim_is_exclusive_and_released(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = _cfg()
    claim = st.claim(cfg)
    assert claim is not None and st.claim(cfg) is None  # held (by this very process)
    owner = st.claim_owner(cfg)
    assert str(os.getpid()) in owner and claims_mod.HOST in owner
    claim.release()
    assert not st.claim_path(cfg).exists()
    again = st.claim(cfg)
    assert again is not None
    again.release()


def test_stale_claims_are_taken_over(tmp_path):
    import socket

    st = ResultsStore(tmp_path)
    cfg = _cfg()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock(st, cfg, pid=dead.pid, host=socket.gethostname())  # a dead process on this host
    claim = st.claim(cfg)
    assert claim is not None
    claim.release()
    path = _lock(st, cfg)  # another host, recently alive: held
    assert st.claim(cfg) is None
    old = time.time() - 2 * claims_mod.CLAIM_TIMEOUT_S
    os.utime(path, (old, old))  # another host, silent for long: stale
    claim = st.claim(cfg)
    assert claim is not None
    claim.release()


def test_two_concurrent_sweeps_train_each_run_once(tmp_path):
    """Two processes sweep the same runs into one store at the same moment: each run trains once."""
    root, go = tmp_path / "results", tmp_path / "go"
    script = textwrap.dedent("""
        import os, sys, time, torch
        torch.set_num_threads(1)
        from mdico_core.experiments import ResultsStore, RunConfig, sweep, train_config
        train = train_config({"max_epochs": 3, "batch_size": 32, "patience": 0})
        cfgs = [RunConfig("toy_regression", "individual", seed=s, train=train, save_features=False)
                for s in range(6)]
        open(sys.argv[2] + "." + str(os.getpid()), "w").close()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.01)
        r = sweep(cfgs, ResultsStore(sys.argv[1]), progress=False)
        print(r.done, r.skipped, len(getattr(r, "claimed", ())), r.failed, flush=True)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(root), str(go)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.time() + 120
        while len(list(tmp_path.glob("go.*"))) < 2:  # both imported torch and are ready
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.time() < deadline
            time.sleep(0.05)
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), outs
    counts = [tuple(map(int, out.split())) for out, _ in outs]
    assert sum(c[0] for c in counts) == 6, counts  # trained once in all
    assert all(c[3] == 0 for c in counts) and all(c[0] + c[1] + c[2] == 6 for c in counts), counts
    assert len(ResultsStore(root).records()) == 6 and not list((root / store_mod.CLAIMS).iterdir())
