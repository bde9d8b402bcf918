"""Bad input, everywhere a user types or edits something: one clear line naming the problem and the fix,
a non-zero exit, never a traceback (issue 29). Each case runs the real `mdico` entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mdico_core.data.custom import from_arrays
from mdico_core.data.dataset import DataValidationError


def _mdico(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mdico_core.cli", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    (root / "afile").write_text("not a folder")
    ds = root / "ds"
    ds.mkdir()
    np.save(ds / "S1.npy", np.zeros((10, 4, 2), np.float32))
    np.save(ds / "target.npy", np.arange(10) % 2)
    (ds / "dataset.yaml").write_text("task: [binary\n")
    (root / "env.yaml").write_text("datasets: [x\n")
    return root


CASES = [  # (arguments, extra environment, exit code, a phrase of the one-line message)
    (["archive", "run", "lfmc_ablation", "--workers", "-1", "--results", "{bad}/s"], {}, 2, "--workers: must be 1 or more"),
    (["archive", "run", "lfmc_ablation", "--threads", "0", "--results", "{bad}/s"], {}, 2, "--threads: must be 1 or more"),
    (["status", "--dataset", "no_such_dataset"], {}, 2, "unknown dataset 'no_such_dataset'; valid datasets:"),
    (["status", "--methods", "no_such_method"], {}, 2, "unknown method(s) no_such_method; valid methods:"),
    (["status", "--profile", "nope"], {}, 2, "unknown profile 'nope'; valid profiles:"),
    (["methods", "--dataset", "no_such_dataset"], {}, 2, "unknown dataset 'no_such_dataset'"),
    (["table", "no_such_dataset"], {}, 2, "unknown dataset 'no_such_dataset'"),
    (["table", "lfmc", "--profile", "no_such_profile"], {}, 2, "unknown profile 'no_such_profile'"),
    (["status", "--results", "{bad}/afile"], {}, 1, "is a file, not a folder: pass --results <folder>"),
    (["export", "lfmc", "--profile", "paper", "--out", "{bad}/afile/x.csv"], {}, 2, "is a file, not a folder"),
    (["data", "status"], {"MDICO_DATA_DIR": "{bad}/afile"}, 1, "the data cache {bad}/afile is a file"),
    (["data", "info"], {"MDICO_DATASETS": "{bad}/ds"}, 1, "dataset.yaml:2:1: this dataset.yaml is not valid YAML"),
    (["data", "list"], {"MDICO_DATASETS": "{bad}/env.yaml"}, 1, "env.yaml:2:1: this $MDICO_DATASETS file is not valid"),
    (["findings", "--claims", "C99"], {}, 2, "unknown claim 'C99'; valid claims:"),
    (["findings", "--archive", "nope"], {}, 2, "unknown archive 'nope'"),
    (["data", "fetch", "no_such"], {}, 2, "unknown data file or dataset 'no_such'"),
    (["run", "--dataset", "toy_binary", "--methods", "individual", "--profile", "smoke", "--executor", "dask",
      "--scheduler", "tcp://127.0.0.1:9", "--results", "{bad}/s"], {"MDICO_DASK_TIMEOUT": "2"}, 1,
     "no Dask scheduler answered at tcp://127.0.0.1:9 within 2 s"),
    # issue 40: refused when parsed, not after a run starts (or leaves a failed record)
    (["run", "--threads", "99999999999999999999", "--results", "{bad}/s"], {}, 2, "--threads: must be at most 1024"),
    (["run", "--split-seed", "-5", "--results", "{bad}/s"], {}, 2,
     "--split-seed: seeds are integers from 0 to 2**32 - 1; got -5"),
    (["run", "--results", ""], {}, 2, "--results: an empty path, which would mean the current folder"),
    (["archive", "status", "lfmc_paper", "--results", ""], {}, 2, "--results: an empty path"),
    (["table", "lfmc", "--archive", ""], {}, 2, "--archive '': give an archive name"),
    (["status", "--results", "{bad}/afile/store"], {}, 1, "is under {bad}/afile, which is a file, not a folder"),
    (["versus", "lfmc_paper", "--methods", "mdico", "--results", "{bad}/s"], {}, 1,  # the hint's backtick at its end
     "`mdico run --dataset lfmc --methods mdico --profile paper --results {bad}/s`"),
]


@pytest.mark.parametrize("args, env, code, phrase", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_one_clear_line(bad, args, env, code, phrase):
    fill = lambda s: s.replace("{bad}", str(bad))  # noqa: E731
    r = _mdico(*map(fill, args), env={k: fill(v) for k, v in env.items()})
    assert r.returncode == code, (r.returncode, r.stdout[-500:], r.stderr[-500:])
    assert "Traceback" not in r.stderr and fill(phrase) in r.stderr, r.stderr[-800:]


@pytest.mark.parametrize("content, phrase", [
    ("seeds: [0\n", "this profile is not valid YAML"),
    ("", "got an empty file"),
    ("seeds: [zero]\n", "key 'seeds' = ['zero'] is not a list of integer seeds"),
    ("n_folds: ten\n", "key 'n_folds' = 'ten' is not an integer"),
    ("train: 5\n", "key 'train' = 5 is not a mapping of training settings"),
])
def test_a_broken_profile_names_its_file_and_key(content, phrase, monkeypatch, tmp_path):
    from mdico_core.experiments import profile

    (tmp_path / "broken.yaml").write_text(content)
    monkeypatch.setattr(profile, "_profile_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="broken.yaml") as err:
        profile.load_profile("broken")
    assert phrase in str(err.value)


@pytest.mark.parametrize("target, task, phrase", [
    (np.zeros(20, int), "multiclass", "single class"),
    (np.zeros(20, int), "binary", "single class"),
    (np.arange(20) % 3, "binary", "a binary target holds 0/1"),
    (np.array(["a", "b"] * 9 + [None, "a"], dtype=object), "multiclass", "1 missing value(s)"),
    ([[0, 1]] * 10 + [[1]] * 10, "multilabel", "rows have different lengths"),
])
def test_own_targets_that_cannot_be_learned_are_refused(target, task, phrase):
    x = {"S1": np.zeros((20, 4, 2), np.float32), "S2": np.zeros((20, 4, 3), np.float32)}
    with pytest.raises(DataValidationError) as err:
        from_arrays("t", x, target, task)
    assert phrase in str(err.value)


def test_a_garbage_claim_is_not_a_run_being_trained(tmp_path):
    import os
    import time

    from mdico_core.experiments.claims import HEARTBEAT_S
    from mdico_core.experiments.store import ResultsStore

    store = ResultsStore(tmp_path)
    lock = store.claim_path("0123456789abcdef")
    lock.parent.mkdir(parents=True)
    lock.write_bytes(os.urandom(64))
    assert len(store.claims()) == 1  # just written: its owner may still be writing it
    old = time.time() - HEARTBEAT_S - 5
    os.utime(lock, (old, old))
    assert store.claims() == []  # unreadable and older than a heartbeat: nobody owns it


def test_data_info_reports_a_corrupt_file_and_leaves_it_where_it_is(real_data, tmp_path):
    """A read-only command says what it found; `mdico data fetch` (which writes) is what repairs."""
    import shutil

    from mdico_core.data import get_dataset_entry

    files = get_dataset_entry("lfmc").files
    paths = real_data(*files)
    for name, path in paths.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tmp_path / name)
    victim = tmp_path / files[0]
    raw = bytearray(victim.read_bytes())
    raw[1000] ^= 1  # same size: only the hash can tell
    victim.write_bytes(bytes(raw))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = _mdico("data", "info", "lfmc", env={"MDICO_DATA_DIR": str(tmp_path)})
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert victim.read_bytes() == bytes(raw)
    assert "checksum mismatch" in r.stdout and "(left in place)" in r.stdout and "present: False" in r.stdout
    assert "Traceback" not in r.stderr


def test_the_usage_line_lists_every_subcommand():
    """Issue 40: the top-level usage names each subcommand, findings and versus included."""
    from mdico_core.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    usage = parser.format_usage()
    assert set(sub.choices) >= {"findings", "versus", "run", "archive"}
    assert "{" + ",".join(sub.choices) + "}" in usage.replace(" ", "").replace("\n", "")
