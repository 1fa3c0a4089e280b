"""Whose fault a failure is: the machine's own (disk full, permission denied, read-only file
system) or a site's.

A site's failure (HTTP errors, refused connections, a page that trips a bug) is that site's
result. A local one is not: every later site would fail the same way, and a batch would record
them all as failed for good. So a local fault stops the run, the sites in flight stay unfinished,
and a resume (with space freed) retries them.
"""
from __future__ import annotations

import errno
import sqlite3

LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO,
                errno.EMFILE, errno.ENFILE}
# what SQLite says when the disk or the file is the problem (it has no errno to give)
LOCAL_SQLITE = ("database or disk is full", "disk i/o error", "readonly database", "unable to open database",
                "attempt to write a readonly")


class LocalFault(Exception):
    """A local fault met while auditing; `cause` is the original error."""

    def __init__(self, cause: BaseException, where: str = ""):
        self.cause, self.where = cause, where
        super().__init__(describe(cause, where))


def is_local(exc: BaseException) -> bool:
    if isinstance(exc, LocalFault):
        return True
    if isinstance(exc, OSError) and exc.errno in LOCAL_ERRNOS:
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(m in str(exc).lower() for m in LOCAL_SQLITE)


def describe(exc: BaseException, where: str = "") -> str:
    if isinstance(exc, LocalFault):
        return str(exc)
    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    name = getattr(exc, "filename", None) or where
    return f"{what} ({name})" if name else what
