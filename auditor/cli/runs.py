"""What `audit` and `batch` keep beside the crawl: an audit's record in the store (under the
store's lock) and a batch's live progress display."""
from __future__ import annotations

from pathlib import Path

import click

from ..faults import describe
from . import _fail, _open_store


class _AuditRecord:
    """An audit's run in the store. The lock is held only while the store is checked (before the
    crawl) and written (after it), so audits running side by side all get recorded; one that
    still finds the store locked (a batch holds it for its whole run) is printed, not recorded.
    A store that cannot be written after the crawl costs the history, not the report."""

    WAIT = 3.0              # seconds to wait for the lock: another audit's write takes far less

    def __init__(self, path: Path):
        from ..store.lock import StoreBusy, StoreLock
        self.path, self.store = path, None
        self.lock = StoreLock(path, kind="audit")
        try:
            self.lock.acquire()
        except StoreBusy:                   # said after the crawl, if it is still held then
            return
        except OSError as e:
            _fail(f"cannot create or lock the store {path}: {describe(e, str(self.lock.path))}")
        try:
            self.store = _open_store(path)  # made or migrated under the lock
        finally:
            self.lock.release()

    def _not_recorded(self, why: str, reports):
        click.echo(f"auditor: {why}; this audit is not recorded in the store (the report follows)", err=True)
        return reports

    def write(self, auditor, urls, reports, cfg, quiet):
        """The reports with reviewers' decisions applied, once written; else as they are."""
        import secrets
        import sqlite3

        from ..acquire.urls import normalise
        from ..store.batch import scoring_of, write_reviewed
        from ..store.db import Store, StoreError
        from ..store.lock import StoreBusy
        try:
            self.lock.acquire(wait=self.WAIT)
        except StoreBusy as e:
            return self._not_recorded(str(e), reports)
        except OSError as e:
            return self._not_recorded(f"cannot lock the store: {describe(e, str(self.lock.path))}", reports)
        store = None
        try:
            store = self.store or Store(self.path)
            options = {k: v for k, v in vars(cfg).items() if k != "allowed_types"}
            run_id, _ = store.open_run("audit " + " ".join(urls), "audit:" + secrets.token_hex(8), auditor.tool,
                                       options, fresh=True, kind="audit", scoring=scoring_of(auditor))
            shown = []
            for n, (url, rep) in enumerate(zip(urls, reports), 1):
                rep.extra["run"] = run_id
                shown.append(write_reviewed(store, auditor, run_id, n, normalise(url) or url, {}, rep))
            store.finish_run(run_id)
        except (StoreError, sqlite3.Error, OSError) as e:
            return self._not_recorded(f"the store {self.path} could not be written ({describe(e)})", reports)
        finally:
            if store is not None:
                try:
                    store.close()
                except sqlite3.Error:
                    pass
            self.lock.release()
        if not quiet:
            click.echo(f"auditor: recorded as run {run_id} in {self.path}", err=True)
        return shown


class _BatchProgress:
    """A live rich display on a terminal; nothing (or a line per site with --verbose) otherwise."""

    def __init__(self, stats, show: bool, verbose: bool):
        self.stats, self.show, self.verbose = stats, show, verbose
        self._progress = None

    def __enter__(self):
        if self.show:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            self._progress = Progress(TextColumn("[bold]auditing"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                      TimeRemainingColumn(), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("sites", total=self.stats.total, detail="")
        return self

    def site(self, target, rep):
        s = self.stats
        if self._progress is not None:
            elapsed = self._progress.tasks[0].elapsed or 1e-9
            rate = (s.done + s.failed) / elapsed
            self._progress.update(self._task, completed=s.done + s.failed + s.skipped,
                                  detail=f"{s.failed} failed · {s.pages} pages · {rate:.1f} sites/s")
        if self.verbose:
            state = f"score {rep.score:g} ({rep.band})" if rep.pages else "FAILED: " + "; ".join(
                e.reason for e in rep.errors[:2])
            click.echo(f"  {target.url}: {state}", err=True)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
