"""The package's small utilities (mdico_core/_util.py): repository root, code version, comma lists."""

from __future__ import annotations

import subprocess

import pytest

from mdico_core._util import as_fold, as_int, format_list, git_state, git_version, parse_list, repo_root


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
