"""The package's small utilities (mdico_core/_util.py): locations, atomic writes, code version, threads, lists."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mdico_core._util import (
    ParameterError,
    as_fold,
    as_int,
    as_seed,
    atomic_write,
    checkout_root,
    code_version,
    display_path,
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


@pytest.mark.parametrize(("value", "item", "expected"), [
    (7, as_int, (7,)),                 # papermill -p seeds 7
    ("7,8", as_int, (7, 8)),           # papermill -p seeds 7,8
    ([7, 8], as_int, (7, 8)),          # papermill -y "seeds: [7, 8]"
    (7.0, as_int, (7,)),
    (0, as_fold, (0,)),                # papermill -p folds 0
    ("official", as_fold, (None,)),
    ([0, None], as_fold, (0, None)),   # papermill -y "folds: [0, null]"
])
def test_parse_list_takes_every_form_papermill_passes(value, item, expected):
    assert parse_list(value, item, "seeds") == expected


@pytest.mark.parametrize("value", ["x", True, 7.5, {"a": 1}, "1,two"])
def test_a_bad_seed_is_one_line_naming_the_parameter_and_the_forms(value):
    with pytest.raises(ParameterError) as err:
        parse_list(value, as_int, "seeds")
    text = str(err.value)
    assert text.startswith(f"seeds = {value!r}:") and "-p seeds 7,8" in text and '-y "seeds: [7, 8]"' in text
    assert "\n" not in text
    assert err.value._render_traceback_() == [f"ParameterError: {text}"]  # what a notebook shows: one line
    with pytest.raises(ParameterError, match="folds = 'x'.*-p folds 0,1"):
        parse_list("x", as_fold, "folds")


def test_display_path_never_shows_the_builders_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("MDICO_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MDICO_RESULTS_DIR", raising=False)
    assert display_path(tmp_path / "cache" / "lfmc" / "a.csv") == "$MDICO_DATA_DIR/lfmc/a.csv"
    assert display_path(tmp_path / "cache") == "$MDICO_DATA_DIR"
    assert display_path(repo_root() / "data" / "archived_runs" / "x.csv") == "data/archived_runs/x.csv"
    monkeypatch.setenv("MDICO_RESULTS_DIR", str(tmp_path / "store"))
    assert display_path(tmp_path / "store") == "$MDICO_RESULTS_DIR"
    assert display_path(Path.home() / "x") == "~/x"


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
    pages = repo / "book" / "generated"
    pages.mkdir(parents=True)
    (pages / "p.ipynb").write_text("{}")
    subprocess.run(["git", "add", "book"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pages"], **run)
    (pages / "p.ipynb").write_text('{"executing": true}')  # papermill writes a page while it runs
    assert git_state(repo)[1] is False and git_state(repo / "book")[1] is False
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
