"""Shared fixtures: the real data through the configured cache, and a temporary empty cache.

CI gets the data before the tests as the README says offline (``make data FROM=../shared/data``).
Locally, the `real_data` fixture does the same once per session when the cache lacks files and
``../shared/data`` sits beside the checkout; tests that need files that are still absent skip
with a message saying how to get them.

Under ``MDICO_REQUIRE_DATA=1`` (set by ``.ci/run``) nothing that CI installed or seeded may be
silently skipped: a test whose data is missing fails, naming the files, and the session refuses
to start when an extra that ``make venv`` installs (book, distributed) is not installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from mdico_core.data import cache
from mdico_core.data.registry import REGISTRY

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# What the README says gets the data: a skip names it (a test checks that it fetches the book's datasets).
GET_DATA = "`make data` (offline: `make data FROM=<folder holding the files>`), or `mdico data fetch <dataset>`"
REQUIRE_DATA = "MDICO_REQUIRE_DATA"
REQUIRED_EXTRAS = ("book", "distributed")  # what `make venv` installs besides the test tools


def data_required() -> bool:
    """True when missing data must fail the tests instead of skipping them (CI)."""
    return os.environ.get(REQUIRE_DATA, "") == "1"


def extra_requirements(extra: str) -> list[str]:
    """The distribution names of pyproject.toml's optional dependency group `extra`."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in project["optional-dependencies"][extra]]


def pytest_configure(config: pytest.Config) -> None:
    if not data_required():
        return
    missing = []
    for extra in REQUIRED_EXTRAS:
        for dist in extra_requirements(extra):
            try:
                metadata.version(dist)
            except metadata.PackageNotFoundError:
                missing.append(f"{dist} (extra {extra!r})")
    if missing:
        raise pytest.UsageError(
            f"{REQUIRE_DATA}=1 but these packages are not installed, so their tests would only skip: "
            f"{', '.join(missing)}. Install them with `make venv` (pip install -e '.[all]').")


def skip_or_fail(reason: str) -> None:
    """Skip the test for `reason`, or, under MDICO_REQUIRE_DATA=1, fail it with that reason."""
    if data_required():
        pytest.fail(f"{REQUIRE_DATA}=1 and the data this test needs is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def missing_data() -> Callable[[str], None]:
    """``missing_data(reason)``: what a test calls when its real data is absent (see `skip_or_fail`)."""
    return skip_or_fail


def _missing(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not cache.verify(cache.data_dir() / n, REGISTRY[n])]


def _absent(names: tuple[str, ...]) -> list[str]:
    """The files of `names` that cannot be had without a download (a cached archive or an installed
    package that holds a file counts as present: `fetch` takes it from there)."""
    out = []
    for n in names:
        try:
            cache.fetch(n, download=False)
        except cache.DatasetNotFoundError:
            out.append(n)
    return out


@pytest.fixture(scope="session")
def real_data() -> Callable[..., dict[str, Path]]:
    """``real_data(*names)`` -> {name: verified path}; skips the test when a file is unavailable
    (fails it under MDICO_REQUIRE_DATA=1). A corrupt cached file is an error, never a skip."""
    downloadable = tuple(n for n, e in REGISTRY.items() if e.sha256 is not None)
    if _missing(downloadable) and SHARED_DATA.is_dir():
        cache.seed(SHARED_DATA)

    def need(*names: str) -> dict[str, Path]:
        absent = _absent(names)
        if absent:
            skip_or_fail(
                f"data files not in the cache {cache.data_dir()}: {absent}. Get them with {GET_DATA}."
            )
        return {n: cache.fetch(n, download=False) for n in names}

    return need


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache folder for one test (no mirror configured, memoised hashes cleared)."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(root))
    monkeypatch.delenv(cache.ENV_MIRROR, raising=False)
    cache.clear_memo()
    return root


@pytest.fixture
def figures() -> Iterator[None]:
    """Matplotlib headless (Agg), and every figure a test opened closed after it (skipped without matplotlib)."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture
def present_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[str], bool]], None]:
    """``present_only(pred)``: only the registered datasets whose name satisfies `pred` count as here."""
    from mdico_core.data import availability as av

    def only(pred: Callable[[str], bool]) -> None:
        def fake(name: str, check: bool = False) -> av.Availability:
            av.get_dataset_entry(name)  # unknown names still raise
            return av.Availability(bool(pred(name)), note="" if pred(name) else "absent in this test")

        monkeypatch.setattr(av, "availability", fake)

    return only
