"""Shared fixtures: the real data through the configured cache, and a temporary empty cache.

CI seeds the cache before the tests (``mdico data seed ../shared/data``). Locally, the
`real_data` fixture does the same once per session when the cache lacks files and
``../shared/data`` sits beside the checkout; tests that need files that are still absent skip
with a message saying how to get them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mdico_core.data import cache
from mdico_core.data.registry import REGISTRY

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _missing(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not cache.verify(cache.data_dir() / n, REGISTRY[n])]


@pytest.fixture(scope="session")
def real_data() -> Callable[..., dict[str, Path]]:
    """``real_data(*names)`` -> {name: verified path}; skips the test when a file is unavailable."""
    downloadable = tuple(n for n, e in REGISTRY.items() if e.sha256 is not None)
    if _missing(downloadable) and SHARED_DATA.is_dir():
        cache.seed(SHARED_DATA)

    def need(*names: str) -> dict[str, Path]:
        missing = _missing(names)
        if missing:
            pytest.skip(
                f"data files not in the cache {cache.data_dir()}: {missing}. Get them with "
                f"`mdico data seed ../shared/data` or `mdico data fetch <name>`."
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
def present_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[str], bool]], None]:
    """``present_only(pred)``: only the registered datasets whose name satisfies `pred` count as here."""
    from mdico_core.data import availability as av

    def only(pred: Callable[[str], bool]) -> None:
        def fake(name: str, check: bool = False) -> av.Availability:
            av.get_dataset_entry(name)  # unknown names still raise
            return av.Availability(bool(pred(name)), note="" if pred(name) else "absent in this test")

        monkeypatch.setattr(av, "availability", fake)

    return only
