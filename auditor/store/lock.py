"""One writer per store: a batch holds an exclusive lock on `STORE.lock` for its whole run; an
audit holds it while it checks the store and while it writes its run.

Two batches on one store crawled every host twice, and one of them died on a duplicate row (or,
started in the same second, both wrote into one WARC). The lock is an flock(2) on a file beside
the database: the kernel drops it when its holder exits, even by SIGKILL, so a crash never leaves
a stale lock. The file names its holder (pid, host, start time, command) for the message the
second run prints.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..model import now_iso


class StoreBusy(Exception):
    """Another process holds the store's lock; `holder` is what it wrote about itself."""

    def __init__(self, path: Path, holder: dict):
        self.path, self.holder = path, holder
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
               if holder else "a process that has not yet said who it is")
        cmd = f": {holder['command']}" if holder.get("command") else ""
        super().__init__(f"{path} is in use by another auditor {holder.get('kind') or 'batch'} ({who}{cmd})")


class StoreLock:
    """with StoreLock(db_path): ...  raises StoreBusy when another run holds it: at once, or
    after `wait` seconds of trying. `kind` (batch, audit) is how a refused run names the holder."""

    def __init__(self, db_path: Path, kind: str = "batch"):
        self.path = Path(str(db_path) + ".lock")
        self.store = Path(db_path)
        self.kind = kind
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> "StoreLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = _read(fd)
                os.close(fd)
                raise StoreBusy(self.store, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": now_iso(),
                                  "kind": self.kind,
                                  "command": " ".join(["auditor", *sys.argv[1:]])[:300]}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)        # the file stays (unlinking it would race a waiter)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
