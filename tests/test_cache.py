"""The checksum-verified cache: verification, errors, loopback downloads (through pooch) and seeding."""

from __future__ import annotations

import hashlib
import http.server
import pickle
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from mdico_core.data import cache
from mdico_core.data.cache import ChecksumError, DatasetNotFoundError
from mdico_core.data.registry import REGISTRY, RemoteFile

NAME = "test_only/payload.bin"
GOOD = b"multi-modal co-learning\n" * 4000  # ~96 kB: several reads, one chunk


def _entry(content: bytes, name: str = NAME, md5: bool = False) -> RemoteFile:
    if md5:
        return RemoteFile(name, f"https://example.invalid/{name}", None, None, "test licence",
                          "test source", md5=hashlib.md5(content).hexdigest())
    return RemoteFile(name, f"https://example.invalid/{name}", hashlib.sha256(content).hexdigest(),
                      len(content), "test licence", "test source")


@pytest.fixture
def fake_entry(monkeypatch: pytest.MonkeyPatch) -> RemoteFile:
    e = _entry(GOOD)
    monkeypatch.setitem(REGISTRY, NAME, e)
    return e


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """One attempt per URL: pooch waits 1 s, 2 s, ... between retries (`test_a_dropped_download_is_retried`)."""
    monkeypatch.setattr(cache, "RETRIES", 0)


# ------------------------------------------------------------------------------ local verification
def test_data_dir_honours_env(empty_cache: Path) -> None:
    assert cache.data_dir() == empty_cache


def test_data_dir_defaults_to_repo_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.ENV_DATA_DIR, raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert cache.data_dir() == repo / "data" / "cache"


def test_good_file_verifies(empty_cache: Path, fake_entry: RemoteFile) -> None:
    path = empty_cache / NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(GOOD)
    assert cache.verify(path, fake_entry)
    assert cache.fetch(NAME, download=False) == path


def test_memo_does_not_hide_a_changed_file(empty_cache: Path, fake_entry: RemoteFile) -> None:
    path = empty_cache / NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(GOOD)
    assert cache.verify(path, fake_entry)
    path.write_bytes(GOOD[:-1] + b"?")  # same size, new content and mtime
    assert not cache.verify(path, fake_entry)


def test_corrupt_file_raises_and_is_never_used(empty_cache: Path, fake_entry: RemoteFile) -> None:
    path = empty_cache / NAME
    path.parent.mkdir(parents=True)
    bad = GOOD[:-1] + b"!"
    path.write_bytes(bad)
    with pytest.raises(ChecksumError) as info:
        cache.fetch(NAME, download=False)
    msg = str(info.value)
    assert fake_entry.sha256 in msg and hashlib.sha256(bad).hexdigest() in msg and NAME in msg
    assert not path.exists(), "a corrupt file must not stay under its final name"
    assert [p.name for p in path.parent.iterdir()] == [f"{path.name}.corrupt-{info.value.actual[:12]}"]


def test_corrupt_lfmc_pickle_is_never_unpickled(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mdico_core.data import lfmc

    calls: list[str] = []
    monkeypatch.setattr(pd, "read_pickle", lambda *a, **k: calls.append("read_pickle"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append("pickle.load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append("pickle.loads"))
    path = empty_cache / lfmc.PICKLE
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(pd.DataFrame({"percent(t)": [1.0]})))  # loadable, but not the pinned bytes
    with pytest.raises(ChecksumError):
        lfmc.load_lfmc()
    assert calls == []


def test_missing_without_download_says_how_to_get_it(empty_cache: Path) -> None:
    name = "lfmc_rao2020/lstm_input_data_pure+all_same_28_may_2019_res_1M_gap_3M"
    with pytest.raises(DatasetNotFoundError) as info:
        cache.fetch(name, download=False)
    msg = str(info.value)
    assert REGISTRY[name].url in msg
    assert f"mdico data fetch {name}" in msg and "mdico data seed" in msg
    assert "CC BY-NC-ND 4.0" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_missing_and_no_network(empty_cache: Path, fake_entry: RemoteFile, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(requests, "get", offline)  # what pooch's HTTPDownloader calls
    with pytest.raises(DatasetNotFoundError) as info:
        cache.fetch(NAME)
    msg = str(info.value)
    assert fake_entry.url in msg and f"mdico data fetch {NAME}" in msg and "test licence" in msg
    assert _leftovers(empty_cache) == []


def test_archive_member_is_not_downloaded(empty_cache: Path) -> None:
    name = "treesatai_ts/sample/Abies_alba_1_1005_WEFL_NLF.h5"
    with pytest.raises(DatasetNotFoundError, match="member"):
        cache.fetch(name)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="lfmc_rao2020/nfmd_queried_latlon.csv"):
        cache.fetch("no/such/file")


# ------------------------------------------------------------------------------ loopback downloads
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; paths in `truncated` announce the full length, send half, and hang up (the
    next `drops` requests only, when it is positive)."""

    truncated: set[str] = set()
    drops = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        rel = urllib.parse.unquote(self.path.lstrip("/"))
        if rel in self.truncated:
            _Handler.drops -= 1
            if _Handler.drops == 0:
                _Handler.truncated = set()
            body = (Path(self.directory) / rel).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served folder) of an HTTP server on 127.0.0.1, port chosen by the OS."""
    root = tmp_path / "served"
    root.mkdir()
    _Handler.truncated, _Handler.drops = set(), 0
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: _Handler(*a, directory=str(root), **k)
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _serve(root: Path, name: str, content: bytes) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(content)


def test_loopback_download_good_file(empty_cache: Path, fake_entry: RemoteFile, server) -> None:
    base, root = server
    _serve(root, NAME, GOOD)
    path = cache.fetch(NAME, mirror=base)
    assert path == empty_cache / NAME and path.read_bytes() == GOOD
    assert _leftovers(empty_cache) == [path]


def test_loopback_download_via_env_mirror(empty_cache: Path, fake_entry: RemoteFile, server,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    base, root = server
    _serve(root, NAME, GOOD)
    monkeypatch.setenv(cache.ENV_MIRROR, base)
    assert cache.fetch(NAME).read_bytes() == GOOD


def test_loopback_download_corrupted_file(empty_cache: Path, fake_entry: RemoteFile, server) -> None:
    base, root = server
    bad = GOOD[:-1] + b"#"
    _serve(root, NAME, bad)
    with pytest.raises(ChecksumError) as info:
        cache.fetch(NAME, mirror=base)
    assert info.value.expected == fake_entry.sha256
    assert info.value.actual == hashlib.sha256(bad).hexdigest()
    assert _leftovers(empty_cache) == [], "nothing may be left under the final name (nor a .part file)"


def test_loopback_interrupted_transfer_then_retry(empty_cache: Path, fake_entry: RemoteFile, server) -> None:
    base, root = server
    _serve(root, NAME, GOOD)
    _Handler.truncated = {NAME}
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        cache.fetch(NAME, mirror=base)
    assert _leftovers(empty_cache) == []
    _Handler.truncated = set()
    assert cache.fetch(NAME, mirror=base).read_bytes() == GOOD


def test_a_dropped_download_is_retried(empty_cache: Path, fake_entry: RemoteFile, server,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    base, root = server
    _serve(root, NAME, GOOD)
    _Handler.truncated, _Handler.drops = {NAME}, 1  # the first request is cut short, the second is served
    monkeypatch.setattr(cache, "RETRIES", 1)
    assert cache.fetch(NAME, mirror=base).read_bytes() == GOOD
    assert _leftovers(empty_cache) == [empty_cache / NAME]


def test_file_mirror(empty_cache: Path, fake_entry: RemoteFile, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    _serve(folder, NAME, GOOD)
    assert cache.fetch(NAME, mirror=folder.as_uri()).read_bytes() == GOOD


def test_downloaded_and_seeded_files_get_the_same_mode(empty_cache: Path, fake_entry: RemoteFile, server,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared cache: files that arrive by download (pooch writes 0600 temporary files) or by seeding
    (from a read-only folder, say) are readable as the umask says, like any file `open()` creates."""
    import os
    import stat

    other = "test_only/other.bin"
    monkeypatch.setitem(REGISTRY, other, _entry(GOOD[::-1], other))
    base, root = server
    _serve(root, NAME, GOOD)
    downloaded = cache.fetch(NAME, mirror=base)
    src = tmp_path / "incoming" / "other.bin"
    _serve(src.parent, src.name, GOOD[::-1])
    src.chmod(0o400)
    assert cache.seed(src.parent)["seeded"] == [other]
    mask = os.umask(0)
    os.umask(mask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (downloaded, empty_cache / other)}
    assert modes == {0o666 & ~mask}


def test_loopback_404_is_not_found(empty_cache: Path, fake_entry: RemoteFile, server) -> None:
    base, _ = server
    with pytest.raises(DatasetNotFoundError, match="404"):
        cache.fetch(NAME, mirror=base)


def test_loopback_md5_only_entry(empty_cache: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    base, root = server
    name = "test_only/labels.geojson"
    monkeypatch.setitem(REGISTRY, name, _entry(GOOD, name, md5=True))
    _serve(root, name, GOOD)
    assert cache.verify(cache.fetch(name, mirror=base), REGISTRY[name])


def test_connection_refused_is_not_found(empty_cache: Path, fake_entry: RemoteFile) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetNotFoundError):
        cache.fetch(NAME, mirror=f"http://127.0.0.1:{port}", timeout=5)
    assert _leftovers(empty_cache) == []


# ------------------------------------------------------------------------------ seeding
def test_seed_copies_matching_files_and_rejects_wrong_ones(empty_cache: Path, fake_entry: RemoteFile,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "incoming"
    (src / "any" / "layout").mkdir(parents=True)
    (src / "any" / "layout" / "renamed.bin").write_bytes(GOOD)  # matched by content, not by path
    wrong = src / "payload.bin"
    wrong.write_bytes(GOOD[:-1] + b"x")  # named like the entry, wrong bytes
    (src / "unrelated.txt").write_text("not data")

    report = cache.seed(src)
    assert report["seeded"] == [NAME]
    assert report["rejected"] == [str(wrong)]
    assert NAME not in report["missing"]
    assert (empty_cache / NAME).read_bytes() == GOOD
    assert not any(p.suffix == ".part" for p in empty_cache.rglob("*"))

    again = cache.seed(src)
    assert again["seeded"] == [] and again["present"] == [NAME]


def test_seed_replaces_a_corrupt_cached_copy(empty_cache: Path, fake_entry: RemoteFile, tmp_path: Path) -> None:
    (empty_cache / NAME).parent.mkdir(parents=True)
    (empty_cache / NAME).write_bytes(b"garbage")
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "payload.bin").write_bytes(GOOD)
    assert cache.seed(src)["seeded"] == [NAME]
    assert cache.fetch(NAME, download=False).read_bytes() == GOOD


def test_seed_only_wrong_file_seeds_nothing(empty_cache: Path, fake_entry: RemoteFile, tmp_path: Path) -> None:
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "payload.bin").write_bytes(b"short and wrong")
    report = cache.seed(src)
    assert report["seeded"] == [] and NAME in report["missing"]
    assert not (empty_cache / NAME).exists()


def test_seed_missing_folder_is_a_clear_error(empty_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cache.seed(tmp_path / "nope")


def test_status_lists_every_registry_file(empty_cache: Path, fake_entry: RemoteFile) -> None:
    (empty_cache / NAME).parent.mkdir(parents=True)
    (empty_cache / NAME).write_bytes(GOOD)
    st = cache.status()
    assert set(st["name"]) == set(REGISTRY)
    row = st.set_index("name").loc[NAME]
    assert bool(row["present"]) and bool(row["verified"])
    assert not st.set_index("name").loc["cropharvest/features.tar.gz", "present"]


def test_registry_matches_shared_sha256sums(missing_data) -> None:
    """Every file pinned in ../shared/data/SHA256SUMS is in the registry with the same hash."""
    sums = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "SHA256SUMS"
    if not sums.is_file():
        missing_data("../shared/data/SHA256SUMS is not beside this checkout")
    pinned = {}
    for line in sums.read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        rel = rel.removeprefix("./")
        if rel != "SHA256SUMS":
            pinned[rel] = digest
    assert {n: REGISTRY[n].sha256 for n in pinned if n in REGISTRY} == pinned


def test_data_readme_lists_the_registry_checksums() -> None:
    from mdico_core.data.registry import checksums_table

    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text(encoding="utf-8")
    assert checksums_table() in readme, "regenerate the table in data/README.md from registry.checksums_table()"


@pytest.mark.parametrize("how", ["rewrite", "rename"])
def test_memo_refuses_a_same_size_replacement_with_its_mtime_reset(empty_cache: Path, fake_entry: RemoteFile,
                                                                    how: str) -> None:
    import os

    path = empty_cache / NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(GOOD)
    assert cache.fetch(NAME, download=False) == path  # verified, and memoised
    before = path.stat()
    bad = GOOD[:-1] + b"?"
    if how == "rewrite":
        path.write_bytes(bad)
    else:
        (path.parent / "swap").write_bytes(bad)
        os.replace(path.parent / "swap", path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(ChecksumError):
        cache.fetch(NAME, download=False)
