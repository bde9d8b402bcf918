"""Checksums of the data cache: hash a file once, verify it against its pin, refuse what differs.

A file is verified against its `RemoteFile` (size, then SHA-256 or, where the publisher gives
nothing else, MD5) before anything reads it; a cached file that differs is moved aside, never
used. `copy_verified` is the one way bytes enter the cache besides a download: it hashes what it
writes and renames it into place only when the hash matched (``_util.atomic_write``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mdico_core._util import atomic_write
from mdico_core.data.registry import RemoteFile

CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    """A file's bytes do not match its pinned checksum; the file was moved aside or deleted."""

    def __init__(self, name: str, path: Path | str, algorithm: str, expected: str, actual: str,
                 detail: str = "", aside: Path | None = None) -> None:
        self.name, self.path, self.algorithm = name, Path(path), algorithm
        self.expected, self.actual = expected, actual
        self.aside = aside  # where the bad file went (None: deleted, or left where it was)
        super().__init__(
            f"checksum mismatch for data file {name!r} ({path}): expected {algorithm} {expected}, "
            f"got {actual}. {detail}".strip()
        )


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
            while chunk := f.read(CHUNK):
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


def reject(path: Path, entry: RemoteFile) -> ChecksumError:
    """Move the bad file at `path` aside (never leave it under its name); the error says where it went."""
    actual = file_digest(path, entry.algorithm)
    aside: Path | None = path.with_name(f"{path.name}.corrupt-{actual[:12]}")
    try:
        os.replace(path, aside)
        detail = f"The file was moved aside to {aside}; run `mdico data fetch {entry.name}` to download it again."
    except OSError:
        aside = None
        try:
            path.unlink(missing_ok=True)
            detail = f"The file was deleted; run `mdico data fetch {entry.name}` to download it again."
        except OSError as err:  # a read-only cache: the bad file stays, and is never used
            detail = (f"It could not be moved aside or deleted ({err.strerror or err}): remove it yourself "
                      f"(`rm {path}`), then run `mdico data fetch {entry.name}`.")
    return ChecksumError(entry.name, path, entry.algorithm, entry.digest, actual, detail, aside)


def copy_verified(src: Path | Callable[[], BinaryIO], dest: Path, entry: RemoteFile, label: str = "",
                  detail: str = "The copy changed while seeding; nothing was saved.") -> None:
    """Copy `src` (a path, or a function opening a binary stream) to `dest` if its bytes match `entry`.

    The bytes actually written are hashed, so the cache never holds an unverified copy; on a
    mismatch `dest` is left as it was and `ChecksumError` is raised.
    """
    opener = (lambda: open(src, "rb")) if isinstance(src, Path) else src

    def write(out: BinaryIO) -> None:
        h = hashlib.new(entry.algorithm)
        with opener() as f:
            while chunk := f.read(CHUNK):
                out.write(chunk)
                h.update(chunk)
        if h.hexdigest() != entry.digest:
            raise ChecksumError(entry.name, label or str(src), entry.algorithm, entry.digest, h.hexdigest(), detail)

    atomic_write(dest, write)
