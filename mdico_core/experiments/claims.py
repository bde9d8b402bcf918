"""Claims: lock files that let concurrent sweeps on one results store share the work.

Before training a run, a sweep creates ``_claims/<run_id>.lock`` with ``O_CREAT | O_EXCL`` (one
creator wins, on a local disk as on NFS v3+), holding the owner's pid, host and start time. The
owner touches the file every `HEARTBEAT_S` while it trains and removes it once the record is
written. A claim is stale, and taken over, when its process is dead (same host) or when it has
not been touched for `CLAIM_TIMEOUT_S` (any host: a crashed machine, a killed Dask worker).

A claim is an agreement about who works on what, not what keeps the store consistent (atomic
writes do that): in the rare race where two sweeps both take over one stale claim, a run is
trained twice, which costs time only, as both write the same record.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

HOST = socket.gethostname()
CLAIM_TIMEOUT_S = 3600.0  # untouched this long: stale, whichever host holds it
HEARTBEAT_S = 60.0  # how often a held claim is touched


class Claim:
    """A run claimed by this process; its lock file is touched every `HEARTBEAT_S` until `release`."""

    def __init__(self, path: Path, token: str):
        self.path, self.token = path, token
        self._stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name=f"mdico-claim-{path.stem}").start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Remove the lock file, if it is still this claim's."""
        self._stop.set()
        if _read_json(self.path).get("token") == self.token:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:  # a store gone read-only: the lock goes stale with this process
                pass

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def take_claim(path: Path, run_id: str) -> Claim | None:
    """Create the lock file `path` for `run_id`: a `Claim`, or None when a live owner holds it."""
    token = uuid.uuid4().hex
    owner = {"run_id": run_id, "pid": os.getpid(), "host": HOST, "token": token,
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        except FileExistsError:
            seen = _read_json(path)
            if not is_stale(path, seen):
                return None
            # Rename the stale lock away, then check that what moved is the lock judged stale: of two
            # sweeps taking it over at once, the second must not displace the first one's fresh lock.
            grave = path.with_name(f"{path.name}.stale-{token}")
            try:
                os.rename(path, grave)
            except FileNotFoundError:
                continue
            moved = _read_json(grave)
            if moved.get("token") != seen.get("token"):
                try:
                    os.link(grave, path)  # put the fresh lock back
                except OSError:
                    pass
                grave.unlink(missing_ok=True)
                return None
            grave.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(owner))
        return Claim(path, token)
    return None


def is_stale(path: Path, owner: dict) -> bool:
    """True when the claim `path` (content `owner`) is dead on this host or untouched for too long."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    pid = owner.get("pid")
    if owner.get("host") == HOST and isinstance(pid, int) and not _pid_alive(pid):
        return True
    if not owner and age > HEARTBEAT_S:  # unreadable (random bytes, a cut write): its owner writes it at once
        return True
    return age > CLAIM_TIMEOUT_S


def describe_owner(path: Path) -> str:
    """"pid 12 on host since <time>" for the claim `path`, or "" when there is none."""
    owner = _read_json(path)
    if not path.exists():
        return ""
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')} since {owner.get('started', '?')}"


def live_claims(folder: Path) -> list[dict]:
    """Run id, pid, host and start time of every claim in `folder` that is not stale."""
    out = []
    for p in sorted(folder.glob("*.lock")):
        owner = _read_json(p)
        if not is_stale(p, owner):
            out.append({"run_id": p.stem, **{k: v for k, v in owner.items() if k not in ("token", "run_id")}})
    return out


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: rely on the timeout
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True
