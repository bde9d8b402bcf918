"""The package's small utilities (mdico_core/_util.py): locations, atomic writes, code version, threads, lists."""

from __future__ import annotations

import subprocess

import pytest

from mdico_core._util import (
    as_fold,
    as_int,
    as_seed,
    atomic_write,
    checkout_root,
    code_version,
    format_list,
    git_state,
    git_version,
    parse_list,
    repo_root,
    thread_env,
)


def test_repo_root_holds_the_package():
    assert (repo_root() / "mdico_core" / "_util.py").is_file()
    assert checkout_root() == repo_root()  # the tests run from a checkout (pyproject.toml beside the package)


def test_parse_list():
    assert parse_list("5, 6", as_int) == (5, 6) and parse_list([1], as_int) == (1,) and parse_list(None) is None
    assert parse_list("croph_b,lfmc") == ("croph_b", "lfmc") and parse_list("") is None
    assert parse_list(["croph_b"]) == ("croph_b",)
    assert parse_list("0, official,NONE", as_fold) == (0, None, None)
    assert parse_list([0, None], as_fold) == (0, None)
    with pytest.raises(ValueError, match="'a' is not an integer"):
        parse_list("a,b", as_int)
    with pytest.raises(ValueError, match="not a fold.*official"):
        parse_list("0,x", as_fold)
    assert format_list((0, None)) == "0,official" and format_list(None) is None
    assert parse_list(format_list((3, None)), as_fold) == (3, None)  # what `mdico book` passes to a page


def test_git_version_and_state(tmp_path):
    commit, dirty = git_state()
    if commit is None:
        pytest.skip("not a git checkout")
    assert len(commit) == 40 and isinstance(dirty, bool)
    assert git_version().startswith(commit[:12])
    assert git_state(tmp_path) == (None, None) and git_version(tmp_path) == "unknown (not a git checkout)"
    repo = tmp_path / "r"
    repo.mkdir()
    run = {"cwd": repo, "capture_output": True, "check": True}
    subprocess.run(["git", "init", "-q"], **run)
    (repo / "a.txt").write_text("1")
    subprocess.run(["git", "add", "a.txt"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run)
    (repo / "untracked.txt").write_text("scratch")
    assert git_state(repo)[1] is False  # untracked files do not count
    (repo / "a.txt").write_text("2")
    assert git_version(repo).endswith("+dirty")


def test_code_version_outside_a_checkout(tmp_path):
    v = code_version(tmp_path)  # not a git work tree
    assert v["git_commit"] is None and v["git_dirty"] is None and v["package_version"]
    here = code_version()
    assert here["git_commit"] == git_state()[0] and code_version() is here  # once per process


def test_seeds():
    assert parse_list("0, 4294967295", as_seed) == (0, 2**32 - 1)
    for bad, message in (("-3", "from 0 to 2\\*\\*32 - 1; got -3"), ("official", "from 0 to"), ("a", "not an integer"),
                         (str(2**32), "got 4294967296")):
        with pytest.raises(ValueError, match=message):
            as_seed(bad)


def test_thread_env_names_every_pool():
    assert thread_env(2) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}


def test_atomic_write_is_all_or_nothing_with_the_umask_mode(tmp_path):
    import os

    path = tmp_path / "sub" / "a.txt"
    atomic_write(path, lambda f: f.write("one"), mode="w")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "one" and path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600

    def fails(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fails, mode="w")
    assert path.read_text() == "one" and sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]
