"""The project's own housekeeping: one version, one torch pin, consistent install files, a citation that
agrees with the bibliography, docs that name files that exist, and CI that cannot skip what it seeded."""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

import mdico_core

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli", reason="on Python 3.10 pyproject.toml is read with tomli")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]


def _text(rel: str) -> str:
    return (REPO / rel).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------- one version
def test_the_version_has_one_source():
    assert Version(mdico_core.__version__)  # a valid PEP 440 version
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"], "pyproject must not repeat the version"
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mdico_core.__version__"}
    cff = yaml.safe_load(_text("CITATION.cff"))
    assert cff.get("version", mdico_core.__version__) == mdico_core.__version__


def test_setuptools_reads_that_version():
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    config = pyprojecttoml.read_configuration(REPO / "pyproject.toml", expand=True)
    assert config["project"]["version"] == mdico_core.__version__


def test_an_install_of_this_checkout_carries_that_version():
    """The installed metadata, where it was installed from this checkout (as `make venv` does), agrees:
    a stale install after a version bump fails here (`make venv` reinstalls when the version changes)."""
    try:
        dist = metadata.distribution("mdico-core")
    except metadata.PackageNotFoundError:
        return  # not installed: nothing can disagree
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url", "").rstrip("/") == REPO.as_uri():
        assert dist.version == mdico_core.__version__, "reinstall: make venv (or pip install -e .)"


# ---------------------------------------------------------------------------------- one torch pin
def test_the_torch_pin_is_said_once_in_the_makefile():
    spec = re.search(r"^TORCH_SPEC \?= (.+)$", _text("Makefile"), re.M).group(1)
    pins = {Requirement(r).name: Requirement(r).specifier for r in spec.split()}
    assert set(pins) == {"torch", "torchvision"} and all(str(s).startswith("==") for s in pins.values())
    for rel in ("README.md", "pyproject.toml", "environment.yml", ".ci/run", "CONTRIBUTING.md"):
        assert not re.search(r"torch(vision)?\s*==", _text(rel)), f"{rel} repeats the torch pin: point to TORCH_SPEC"
        assert "TORCH_SPEC" in _text(rel), f"{rel} should point to TORCH_SPEC"
    ranges = {Requirement(r).name: Requirement(r).specifier for r in PROJECT["dependencies"]}
    for name, pin in pins.items():  # the pinned build lies inside the range users get
        assert ranges[name].contains(str(pin).removeprefix("=="), prereleases=True), (name, pin, ranges[name])


# ---------------------------------------------------------------------------------- install files
def test_environment_yml_installs_what_pyproject_declares():
    env = yaml.safe_load(_text("environment.yml"))
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    assert Requirement("python" + PROJECT["requires-python"]).specifier.contains(python.split("=", 1)[1] + ".0")
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    editable = [p for p in pip if p.startswith("-e")]
    assert len(editable) == 1, "the project itself, editable, from pyproject.toml"
    for extra in re.search(r"\[(.+)\]", editable[0]).group(1).split(","):
        assert extra in EXTRAS, f"environment.yml asks for extra {extra!r}; pyproject has {sorted(EXTRAS)}"
    local = [p for p in pip if p.startswith("./")]
    assert all((REPO / p / "pyproject.toml").is_file() or (REPO / p / "setup.py").is_file() for p in local)
    # no dependency of its own: conda users get exactly pyproject's (pip entries only, no conda packages)
    assert {d.split("=")[0] for d in deps if isinstance(d, str)} == {"python", "pip"}


def test_every_extra_named_anywhere_exists():
    for req in EXTRAS["all"]:
        r = Requirement(req)
        assert r.name == PROJECT["name"] and r.extras <= set(EXTRAS) - {"all"}
    make = re.findall(r"-e '\.\[([^\]]+)\]'", _text("Makefile"))
    assert make and all(e in EXTRAS for m in make for e in m.split(","))


def test_pre_commit_uses_the_pinned_ruff_and_strips_only_notebooks():
    config = yaml.safe_load(_text(".pre-commit-config.yaml"))
    repos = {r["repo"].rsplit("/", 1)[1]: r for r in config["repos"]}
    for repo in repos.values():
        assert re.fullmatch(r"v?\d+(\.\d+)+", repo["rev"]), f"{repo['repo']}: pin a release, not {repo['rev']!r}"
    ruff = next(Requirement(r) for r in EXTRAS["test"] if Requirement(r).name == "ruff")
    assert str(ruff.specifier) == "==" + repos["ruff-pre-commit"]["rev"].removeprefix("v")
    nbstripout = repos["nbstripout"]["hooks"][0]
    assert re.match(nbstripout["files"], "notebooks/03_ablation.ipynb") and not re.match(
        nbstripout["files"], "book/generated/03_ablation.ipynb")


def test_the_package_ships_its_type_marker_and_licence():
    assert (REPO / "mdico_core" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["mdico_core"]
    assert PROJECT["license"] == "MIT" and _text("LICENSE").startswith("MIT License")
    assert "LICENSE" in PROJECT["license-files"]


# ---------------------------------------------------------------------------------- citation and docs
def _bib_entry(key: str) -> dict[str, str]:
    bib = _text("book/references.bib")
    body = bib[bib.index(f"{{{key},"):]
    body = body[: body.index("\n}")]
    return {k: re.sub(r"[{}]", "", v) for k, v in re.findall(r"(\w+)\s*=\s*\{(.*)\},?\n", body + "\n")}


def test_citation_cff_agrees_with_the_bibliography():
    cff = yaml.safe_load(_text("CITATION.cff"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    bib = _bib_entry("mena2025mdico")
    assert paper["type"] == "article" and paper["title"] == bib["title"]
    assert paper["journal"] == bib["journal"] and str(paper["year"]) == bib["year"]
    assert [f"{a['family-names']}, {a['given-names']}" for a in paper["authors"]] == bib["author"].split(" and ")
    assert "2510.19579" in paper["url"]


def test_contributing_and_changelog_name_files_that_exist():
    text = _text("CONTRIBUTING.md")
    paths = set(re.findall(r"`((?:mdico_core|tests|notebooks|book|data|benchmarks)/[^`<>* ]+)`", text))
    assert len(paths) > 15
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, f"CONTRIBUTING.md names files that do not exist: {missing}"
    assert "## [Unreleased]" in _text("CHANGELOG.md")


# ---------------------------------------------------------------------------------- CI cannot skip
def test_ci_lints_seeds_and_requires_the_data():
    ci = "\n".join(line for line in _text(".ci/run").splitlines() if not line.lstrip().startswith("#"))
    steps = [s for s in ("make venv", "make lint", "make data FROM=../shared/data",
                         "MDICO_REQUIRE_DATA=1 make test") if s in ci]
    assert len(steps) == 4 and sorted(steps, key=ci.index) == steps, "install, lint, get the data, then test"
    lint = re.search(r"^lint:.*\n\t(.+)$", _text("Makefile"), re.M).group(1)
    assert lint.split("ruff check ", 1)[1].split() == ["mdico_core", "tests", "benchmarks", "notebooks"]
    fast = re.search(r"^test-fast:.*\n\t(.+)$", _text("Makefile"), re.M).group(1)
    assert '-m "not slow and not book"' in fast


def _commands(text: str) -> list[str]:
    """Shell commands of `text` (a script, or a README's code spans and blocks), one per line, without
    comments, prompts and the environment assignments that prefix them."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", line)
        if line:
            out.append(line)
    return out


def test_ci_runs_the_readmes_set_up_and_nothing_else():
    """Every command of .ci/run that sets up (make, mdico, pip) is one the README tells a user to run,
    so a green CI cannot hide a set-up step the README lacks."""
    readme = _text("README.md")
    said = set(re.findall(r"`([^`\n]+)`", readme)) | set(_commands(readme))
    said |= {c.replace("<folder>", "../shared/data") for c in said}  # the README's offline folder, CI's
    ci = [c for c in _commands(_text(".ci/run")) if re.match(r"(make|\.venv/bin/\S+|mdico|pip)\b", c)]
    assert ci, "no set-up command found in .ci/run"
    unsaid = [c for c in ci if c not in said]
    assert not unsaid, f".ci/run runs set-up the README does not give: {unsaid}"


def test_make_data_gets_every_dataset_a_book_page_reads():
    from mdico_core.data import get_dataset_entry
    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.reporting.book.book_plan import ARCHIVED, PAGE_ARCHIVES, book_datasets

    default = re.search(r"^DATASETS \?= (.+)$", _text("Makefile"), re.M).group(1).split()
    assert default == ["book"]
    shown = set(ARCHIVED.values()) | {a for v in PAGE_ARCHIVES.values() for a in v.split(",")}
    assert {ARCHIVES[a].dataset for a in shown} <= set(book_datasets())
    assert {"lfmc", "mfeat", "algae_blooms", "algae_blooms_binary"} <= set(book_datasets())
    for d in book_datasets():  # each can be fetched: it names files of the registry
        assert get_dataset_entry(d).files


def test_skips_name_a_command_that_gets_the_data():
    from conftest import GET_DATA

    assert "make data" in GET_DATA and "make data FROM=" in GET_DATA
    assert "`make data FROM=<folder>`" in _text("README.md")


def test_tests_never_importorskip_the_project():
    offenders = [p.name for p in (REPO / "tests").glob("*.py")
                 if re.search(r"importorskip\(\s*['\"]mdico_core", p.read_text())]
    assert not offenders


def test_missing_data_skips_locally_and_fails_under_require(missing_data, monkeypatch):
    monkeypatch.delenv("MDICO_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no such file"):
        missing_data("no such file")
    monkeypatch.setenv("MDICO_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="MDICO_REQUIRE_DATA=1 .*no such file"):
        missing_data("no such file")


def test_real_data_names_the_missing_file_under_require(real_data, empty_cache, monkeypatch):
    name = "lfmc_rao2020/training_features_description.csv"
    monkeypatch.setenv("MDICO_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match=re.escape(name)):
        real_data(name)
    monkeypatch.delenv("MDICO_REQUIRE_DATA")
    with pytest.raises(pytest.skip.Exception, match=re.escape(name)):
        real_data(name)


# ---------------------------------------------------------------------------------- no typed counts
_TYPED_COUNT = re.compile(
    r"\b\d[\d,]*\s*(?:folds?|seeds?|runs?|minutes?|min\b|repeats?)\b|\bseeds?\s+\d+\s*[-–]\s*\d+"
    r"|\b\d+\s*[x×]\s*\d+\s*(?:seeds?|folds?|runs?)", re.I)
# the rule "no p or std from fewer than 5 runs" is a constant of the statistics (stats.MIN_PAIRS), not a count
_RULE = re.compile(r"fewer than \d+ (?:paired )?runs", re.I)


def test_no_count_of_runs_folds_or_seeds_is_typed_into_the_books_prose():
    """Counts change as archives grow and plans change: the book's prose glues them (from the plan, the
    manifests or build_info.json). Scans book/*.md and the notebooks' Markdown cells."""
    import json

    from mdico_core.reporting.core.stats import MIN_PAIRS

    sources = {str(p.relative_to(REPO)): p.read_text() for p in (REPO / "book").glob("*.md")}
    for p in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(p.read_text())["cells"]
        sources[str(p.relative_to(REPO))] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = []
    for name, text in sources.items():
        for rule in _RULE.finditer(text):
            assert str(MIN_PAIRS) in rule.group(0), f"{name}: {rule.group(0)} (stats.MIN_PAIRS is {MIN_PAIRS})"
        text = _RULE.sub("", text)
        found += [f"{name}: {m.group(0)!r}" for m in _TYPED_COUNT.finditer(text)]
    assert not found, "typed counts in the book's prose (glue them): " + "; ".join(found)
    assert _TYPED_COUNT.search("the archive holds 10 folds x 5 seeds") and _TYPED_COUNT.search("seeds 0-2")


# ---------------------------------------------------------------------------------- no typed archive states
# How much of an archive is held is its manifest's to say (`archive.held_words`, glued): a typed state
# ("held so far", "filled over sessions", "keeps one fold and seed") goes stale the day the archive grows.
_TYPED_STATE = re.compile(
    r"held so far|filled over sessions?|\bso far\b|one (?:test )?fold and seed"
    r"|\b(?:archive|sweep)s? (?:is|are) (?:now )?(?:complete|partial)\b"
    r"|being filled|still (?:running|training)|not yet (?:exported|archived|complete)", re.I)


def _string_literals(code: str) -> str:
    """The string literals of `code` (f-string parts included), less docstrings and comments: what a page prints."""
    import ast

    tree = ast.parse(code)
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return "\n".join(n.value for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs)


def _book_prose() -> dict[str, str]:
    """The book's prose by file: book/*.md, the notebooks' Markdown and printed strings, the strings of the
    reporting modules that pages glue, and data/archived_runs/README.md."""
    sources = {str(p.relative_to(REPO)): p.read_text() for p in (REPO / "book").glob("*.md")}
    sources["data/archived_runs/README.md"] = _text("data/archived_runs/README.md")
    for p in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(p.read_text())["cells"]
        sources[str(p.relative_to(REPO))] = "\n".join(
            "".join(c["source"]) if c["cell_type"] == "markdown" else _string_literals("".join(c["source"]))
            for c in cells if c["cell_type"] in ("markdown", "code"))
    for p in (REPO / "mdico_core" / "reporting").glob("*.py"):
        sources[str(p.relative_to(REPO))] = _string_literals(p.read_text())
    return sources


def test_no_archive_state_is_typed_into_the_books_prose():
    """Every statement of what an archive holds is glued from its manifest, never typed."""
    found = [f"{name}: {m.group(0)!r}" for name, text in _book_prose().items() for m in _TYPED_STATE.finditer(text)]
    assert not found, "typed archive states in the book's prose (glue archive.held_words): " + "; ".join(found)
    assert _TYPED_STATE.search("seed 0 held so far") and _TYPED_STATE.search("keeps the features of one fold and seed")
    printed = _string_literals('"""doc"""\nx = f"runs {n} held so far"  # a comment')
    assert "held so far" in printed and "doc" not in printed and "comment" not in printed


def test_held_words_say_what_each_manifest_says():
    """The glued state of each archive is its manifest's: runs held of runs defined, partial only when it is."""
    from mdico_core.experiments.archive_files import read_manifest
    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.reporting.book.archive import held_words

    for name, archive in ARCHIVES.items():
        info = read_manifest(archive)
        if not info:
            continue
        words = held_words(name, code=False)
        assert words.startswith(f"{name}: {info['runs_exported']:,} of {info['runs_defined']:,} runs"), words
        assert ("partial" in words) == bool(info.get("partial")), words


def test_the_archive_readme_names_the_feature_runs_its_definition_keeps():
    """data/archived_runs/README.md says which runs of lfmc_paper keep test features, as the definition does."""
    from mdico_core.experiments.archives import FEATURE_SEED, get_archive

    kept = get_archive("lfmc_paper").companion_runs("features")
    seeds = sorted({c.seed for c in kept})
    assert FEATURE_SEED in seeds and len(seeds) > 1
    row = next(line for line in _text("data/archived_runs/README.md").splitlines() if line.startswith("| `lfmc_paper`"))
    assert all(f"seed {s}" in row for s in seeds), row
