"""The audit store: SQLite (WAL), one transaction per finished site, so an interrupted batch loses
only the sites in flight and a second run resumes where the first stopped.

Tables: runs, sites, pages, findings, suppressed, mitigations, errors, and meta (the schema
version). Each site row also keeps its whole JSON report, so exports and diffs never need a
re-crawl. A newer auditor opens an older database by applying the migrations in order.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator, Optional

from ..model import SiteReport, now_iso
from ..score import fingerprint

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        input TEXT NOT NULL,
        input_key TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        tool_version TEXT NOT NULL,
        rules_version TEXT NOT NULL,
        options TEXT
    );
    CREATE TABLE sites (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        line INTEGER,
        url TEXT NOT NULL,
        input_json TEXT,
        status TEXT NOT NULL,
        score REAL,
        band TEXT,
        error TEXT,
        audited_at TEXT NOT NULL,
        report_json TEXT NOT NULL,
        UNIQUE (run_id, url)
    );
    CREATE TABLE pages (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        url TEXT NOT NULL, status INTEGER, fetched_at TEXT, sha256 TEXT, warc_record_id TEXT,
        title TEXT, score REAL
    );
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        page_id INTEGER REFERENCES pages(id),
        rule TEXT NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL, confidence REAL,
        text TEXT, sentence TEXT, start INTEGER, "end" INTEGER, region TEXT, points REAL, fingerprint TEXT
    );
    CREATE TABLE suppressed (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        page_id INTEGER REFERENCES pages(id),
        rule TEXT, category TEXT, text TEXT, reason TEXT, cue TEXT
    );
    CREATE TABLE mitigations (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        page_id INTEGER REFERENCES pages(id),
        rule TEXT, kind TEXT, text TEXT
    );
    CREATE TABLE errors (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        target TEXT, reason TEXT, detail TEXT
    );
    """),
    (2, """
    CREATE INDEX sites_url ON sites(url, audited_at);
    CREATE INDEX findings_site ON findings(site_id);
    ALTER TABLE sites ADD COLUMN pages_fetched INTEGER;
    """),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]




class StoreError(Exception):
    """The store cannot be used: not a database, someone else's database, or not writable."""


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if self.version() == 0 and self.db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'").fetchone():
                raise StoreError(f"{self.path}: a SQLite database, but not an auditor store (it has other tables)")
            self.migrate()
        except sqlite3.DatabaseError as e:
            what = "not a SQLite database" if "not a database" in str(e) else f"cannot use it as the store ({e})"
            raise StoreError(f"{self.path}: {what}") from None
        except OSError as e:
            raise StoreError(f"{self.path}: cannot create the store's folder ({e.strerror or e})") from None

    # -- schema ------------------------------------------------------------------------------
    def version(self) -> int:
        has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone()
        if not has_meta:
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self):
        current = self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: database schema {current} is newer than this auditor "
                               f"({SCHEMA_VERSION}); upgrade auditor")
        for version, ddl in MIGRATIONS:
            if version <= current:
                continue
            self.db.execute("BEGIN")
            try:
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                for stmt in (s.strip() for s in ddl.split(";")):
                    if stmt:
                        self.db.execute(stmt)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise

    # -- runs --------------------------------------------------------------------------------
    def open_run(self, input_name: str, input_key: str, tool: dict, options: dict, fresh: bool) -> tuple[int, bool]:
        """(run id, resumed): the unfinished (or last) run of this input, or a new one."""
        if not fresh:
            row = self.db.execute("SELECT id, rules_version FROM runs WHERE input_key=? ORDER BY id DESC LIMIT 1",
                                  (input_key,)).fetchone()
            if row is not None:
                return row["id"], True
        cur = self.db.execute(
            "INSERT INTO runs (input, input_key, started_at, tool_version, rules_version, options) VALUES (?,?,?,?,?,?)",
            (input_name, input_key, now_iso(), tool["version"], tool["rules_version"], json.dumps(options)))
        return cur.lastrowid, False

    def finish_run(self, run_id: int):
        self.db.execute("UPDATE runs SET finished_at=? WHERE id=?", (now_iso(), run_id))

    def run(self, run_id: int) -> Optional[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()

    def runs(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM sites s WHERE s.run_id=r.id) AS n_sites FROM runs r ORDER BY id").fetchall()

    def done_urls(self, run_id: int) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT url FROM sites WHERE run_id=?", (run_id,))}

    # -- sites -------------------------------------------------------------------------------
    def write_site(self, run_id: int, line: Optional[int], url: str, columns: dict, report: SiteReport):
        """Everything about one finished site, in one transaction."""
        d = report.to_dict()
        failed = not report.pages and bool(report.errors)
        if failed:
            error = "; ".join(e.reason for e in report.errors[:3])
        elif report.errors:
            reasons = sorted({e.reason for e in report.errors})
            error = f"{len(report.errors)} page(s) not audited: " + "; ".join(reasons[:3])
        else:
            error = None
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO sites (run_id, line, url, input_json, status, score, band, error, audited_at, report_json,"
                " pages_fetched) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, line, url, json.dumps(columns, ensure_ascii=False), "failed" if failed else "done",
                 None if failed else report.score, None if failed else report.band, error, report.audited_at,
                 json.dumps(d, ensure_ascii=False), len(report.pages)))
            site_id = cur.lastrowid
            for p in report.pages:
                pid = db.execute(
                    "INSERT INTO pages (site_id, url, status, fetched_at, sha256, warc_record_id, title, score)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (site_id, p.url, p.meta.get("status"), p.meta.get("fetched_at"), p.meta.get("sha256"),
                     p.meta.get("warc_record_id"), p.title, p.score)).lastrowid
                db.executemany(
                    'INSERT INTO findings (site_id, page_id, rule, category, severity, confidence, text, sentence,'
                    ' start, "end", region, points, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
                    [(site_id, pid, f.rule, f.category, f.severity, f.confidence, f.text, f.sentence, f.start, f.end,
                      f.region, f.points, fingerprint(f)) for f in p.findings])
                db.executemany(
                    "INSERT INTO suppressed (site_id, page_id, rule, category, text, reason, cue) VALUES (?,?,?,?,?,?,?)",
                    [(site_id, pid, s.rule, s.category, s.text, s.reason, s.cue.text if s.cue else None)
                     for s in p.suppressed])
                db.executemany(
                    "INSERT INTO mitigations (site_id, page_id, rule, kind, text) VALUES (?,?,?,?,?)",
                    [(site_id, pid, m.rule, m.kind, m.text) for m in p.mitigations])
            db.executemany("INSERT INTO errors (site_id, target, reason, detail) VALUES (?,?,?,?)",
                           [(site_id, e.target, e.reason, e.detail) for e in report.errors])
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise

    def sites(self, run_id: int) -> Iterator[sqlite3.Row]:
        """A run's sites in input order, streamed (one row at a time)."""
        yield from self.db.execute("SELECT * FROM sites WHERE run_id=? ORDER BY line, id", (run_id,))

    def history(self, url: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT s.*, r.rules_version, r.tool_version,"
            " (SELECT COUNT(*) FROM findings f WHERE f.site_id=s.id) AS n_findings"
            " FROM sites s JOIN runs r ON r.id=s.run_id WHERE s.url=? ORDER BY s.audited_at, s.id", (url,)).fetchall()

    def fingerprints(self, site_id: int) -> dict[str, sqlite3.Row]:
        rows = self.db.execute("SELECT f.*, p.url AS page_url FROM findings f LEFT JOIN pages p ON p.id=f.page_id"
                               " WHERE f.site_id=? ORDER BY f.id", (site_id,)).fetchall()
        out: dict[str, sqlite3.Row] = {}
        for r in rows:
            out.setdefault(r["fingerprint"], r)
        return out

    def close(self):
        self.db.close()
