"""The package's small utilities (mdico_core/_util.py): repository root, code version, comma lists."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mdico_core._util import (
    ParameterError,
    as_fold,
    as_int,
    display_path,
    format_list,
    git_state,
    git_version,
    parse_list,
    repo_root,
)


def test_repo_root_holds_the_package():
    assert (repo_root() / "mdico_core" / "_util.py").is_file()


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
    (repo / "a.txt").write_text("2")
    assert git_version(repo).endswith("+dirty")
