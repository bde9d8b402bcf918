"""The two registries: remote files (mdico_core/data/registry.py) and datasets (mdico_core/data/__init__.py).

Every pinned file can be verified and credited; every dataset entry's typed fields agree with each
other and with the file registry, so that `mdico data info`, the cache and `availability.resolve`
never meet an entry they cannot explain.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import numpy as np
import pytest

from mdico_core.data import KINDS, TASKS, DatasetEntry, load_dataset, registered
from mdico_core.data.registry import REGISTRY, RemoteFile, checksums_table, get_remote

HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}


# ---------------------------------------------------------------------------------- remote files
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_remote_file_can_be_verified_and_credited(name):
    e = REGISTRY[name]
    assert e.name == name
    assert HEX[e.algorithm].fullmatch(e.digest), f"{name}: {e.algorithm} digest {e.digest!r} is not lower-case hex"
    if e.sha256 is not None:
        assert e.algorithm == "sha256"  # the stronger hash wins where both are known
    assert e.licence.strip() and e.source.strip(), f"{name}: every file says its licence and who publishes it"
    assert e.size is None or (isinstance(e.size, int) and e.size > 0)
    path = PurePosixPath(name)
    assert not path.is_absolute() and ".." not in path.parts and "\\" not in name  # a place inside the cache
    assert all(u.startswith("https://") for u in (e.url, *e.mirrors)), f"{name}: downloads over https only"


def test_archives_and_packages_point_at_real_entries():
    for name, e in REGISTRY.items():
        if e.archive is not None:
            assert e.archive in REGISTRY and e.member, name
            assert REGISTRY[e.archive].member is None, f"{name}: its archive must be downloadable on its own"
            assert e.url == REGISTRY[e.archive].url, f"{name}: an archive member is fetched from its archive's URL"
        if e.package is not None:
            assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.+-]*", e.package), f"{name}: pin one version"


def test_no_two_files_share_their_bytes():
    """`cache.seed` matches files by content: two entries with one digest would be ambiguous."""
    digests = [e.digest for e in REGISTRY.values()]
    assert len(digests) == len(set(digests))


def test_remote_file_refuses_an_entry_it_could_not_verify():
    with pytest.raises(ValueError, match="needs sha256 or md5"):
        RemoteFile("x/y.csv", "https://example.org/y.csv", None, 1, "CC0", "nobody")
    with pytest.raises(ValueError, match="give `member`"):
        RemoteFile("x/y.csv", "https://example.org/a.zip", "0" * 64, 1, "CC0", "nobody", archive="x/a.zip")
    with pytest.raises(ValueError, match="unknown data file 'nope'; registered files: "):
        get_remote("nope")


def test_checksums_table_has_one_row_per_file():
    rows = checksums_table().splitlines()[2:]
    assert len(rows) == len(REGISTRY)
    assert all(f"`{e.name}`" in row and e.digest in row for e, row in zip(REGISTRY.values(), rows))


# ---------------------------------------------------------------------------------- datasets
def _benchmarks() -> dict[str, DatasetEntry]:
    return {n: e for n, e in registered().items() if e.paper_name}


@pytest.mark.parametrize("name", sorted(registered()))
def test_every_dataset_entry_is_consistent(name):
    e = registered()[name]
    assert e.name == name
    assert e.kind in KINDS and e.task in TASKS, f"{name}: kind {e.kind!r}, task {e.task!r}"
    assert e.description.strip() and e.source.strip() and e.licence.strip(), f"{name}: `mdico data info` needs these"
    missing = [f for f in e.files if f not in REGISTRY]
    assert not missing, f"{name}: files not in the file registry: {missing}"
    assert e.samples is None or e.samples > 0
    assert all(len(s) in (2, 3) and all(d > 0 for d in s) for s in e.shapes.values()), e.shapes
    if e.paper_name:  # a paper benchmark is the real thing, never a replacement
        assert e.kind == "real" and e.stand_in_for is None, name
    if e.stand_in_for is not None:
        bench = _benchmarks().get(e.stand_in_for)
        assert bench is not None, f"{name}: stand_in_for={e.stand_in_for!r} names no paper benchmark"
        assert e.task == bench.task, f"{name} ({e.task}) replaces {e.stand_in_for} ({bench.task})"
        assert e.kind in ("stand-in", "synthetic")
    for own, theirs in e.views_as.items():
        assert e.stand_in_for is not None, f"{name}: views_as only means something for a replacement"
        assert own in e.shapes and theirs in _benchmarks()[e.stand_in_for].shapes, (name, own, theirs)


def test_every_paper_benchmark_is_registered():
    from mdico_core.reporting.core import paper

    assert {n: e.paper_name for n, e in _benchmarks().items()} == {b: paper.NAMES[b] for b in paper.BENCHMARKS}


@pytest.mark.parametrize("name", sorted(n for n, e in registered().items() if e.kind == "synthetic"))
def test_synthetic_entries_describe_what_their_loader_builds(name):
    """Synthetic data needs no download, so its declared fields are checked against the real thing."""
    e = registered()[name]
    ds = load_dataset(name, cache=False)
    assert (ds.task, len(ds), dict(ds.shapes)) == (e.task, e.samples, dict(e.shapes))
    assert all(np.isfinite(x).all() for x in ds.modalities.values())
