"""The audit store: SQLite (WAL), one transaction per finished site, so an interrupted batch loses
only the sites in flight and a second run resumes where the first stopped.

Tables: runs, sites, pages, findings, suppressed, mitigations, errors, texts (each audited page
text once, compressed), decisions (reviewers' confirmations and dismissals) and meta (the schema
version); views for researchers (site_summary, audit_summary, finding_reviews, current_decisions).
Each site row also keeps its whole JSON report as the machine made it, so exports and diffs never
need a re-crawl. A newer auditor opens an older database by applying the migrations in order.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Iterator, Optional

import zlib

from ..model import SiteReport, now_iso
from ..review import finding_id, review_key
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
    (3, """
    CREATE TABLE texts (sha256 TEXT PRIMARY KEY, chars INTEGER NOT NULL, zlib BLOB NOT NULL);
    ALTER TABLE pages ADD COLUMN text_sha256 TEXT REFERENCES texts(sha256);
    ALTER TABLE findings ADD COLUMN review_key TEXT;
    ALTER TABLE findings ADD COLUMN review_id TEXT;
    CREATE INDEX findings_review ON findings(review_id);
    ALTER TABLE sites ADD COLUMN reviewed_score REAL;
    ALTER TABLE sites ADD COLUMN reviewed_band TEXT;
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'batch';
    ALTER TABLE runs ADD COLUMN scoring TEXT;
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL, review_key TEXT NOT NULL, review_id TEXT NOT NULL,
        category TEXT NOT NULL, rule TEXT, evidence TEXT,
        decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'dismissed')),
        reason TEXT NOT NULL, reviewer TEXT NOT NULL, decided_at TEXT NOT NULL
    );
    CREATE INDEX decisions_key ON decisions(site, review_key, id);
    """),
    (4, lambda db: _backfill_review_keys(db)),
    (5, lambda db: _create_views(db)),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _backfill_review_keys(db: sqlite3.Connection):
    rows = db.execute("SELECT f.id, f.category, f.text, s.url FROM findings f JOIN sites s ON s.id=f.site_id"
                      " WHERE f.review_key IS NULL").fetchall()
    for fid, category, text, url in rows:
        key = review_key(category, text)
        db.execute("UPDATE findings SET review_key=?, review_id=? WHERE id=?", (key, finding_id(url, key), fid))


def _create_views(db: sqlite3.Connection):
    """The views a researcher queries first (README, "The store"). Counts are of distinct claims
    (category and evidence text), as history and diff count them; dismissed claims are not counted."""
    from ..analyse.rules import CATEGORIES, PAGE_CATEGORIES
    per_cat = ",\n".join(
        f"COUNT(DISTINCT CASE WHEN f.category='{c}' AND f.decision<>'dismissed' THEN f.review_key END) AS \"{c}\""
        for c in (*CATEGORIES, *PAGE_CATEGORIES))
    for stmt in (
        """CREATE VIEW current_decisions AS
        SELECT d.* FROM decisions d
        WHERE d.id = (SELECT MAX(e.id) FROM decisions e WHERE e.site=d.site AND e.review_key=d.review_key)""",
        """CREATE VIEW finding_reviews AS
        SELECT f.id AS finding_row, f.review_id AS finding_id, s.url AS site, s.id AS audit, s.run_id AS run,
               s.audited_at, p.url AS page, f.rule, f.category, f.severity, f.confidence, f.points, f.text,
               f.sentence, f.start, f."end", f.region, f.review_key,
               COALESCE(d.decision, 'undecided') AS decision, d.reason, d.reviewer, d.decided_at
        FROM findings f JOIN sites s ON s.id=f.site_id LEFT JOIN pages p ON p.id=f.page_id
        LEFT JOIN current_decisions d ON d.site=s.url AND d.review_key=f.review_key""",
        f"""CREATE VIEW audit_summary AS
        SELECT s.id AS audit, s.url AS site, s.run_id AS run, r.kind AS run_kind, s.audited_at, s.status,
               COALESCE(s.reviewed_score, s.score) AS score, COALESCE(s.reviewed_band, s.band) AS band,
               s.score AS machine_score, s.pages_fetched AS pages, s.error,
               COUNT(DISTINCT CASE WHEN f.decision<>'dismissed' THEN f.review_key END) AS findings,
               COUNT(DISTINCT CASE WHEN f.decision='confirmed' THEN f.review_key END) AS confirmed,
               COUNT(DISTINCT CASE WHEN f.decision='dismissed' THEN f.review_key END) AS dismissed,
               COUNT(DISTINCT CASE WHEN f.decision='undecided' THEN f.review_key END) AS undecided,
               {per_cat}
        FROM sites s JOIN runs r ON r.id=s.run_id LEFT JOIN finding_reviews f ON f.audit=s.id
        GROUP BY s.id""",
        """CREATE VIEW site_summary AS
        SELECT a.* FROM audit_summary a
        WHERE a.audit = (SELECT s2.id FROM sites s2 WHERE s2.url=a.site
                         ORDER BY s2.audited_at DESC, s2.id DESC LIMIT 1)""",
    ):
        db.execute(stmt)




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
                if callable(ddl):              # a step that needs Python (keys computed from text)
                    ddl(self.db)
                for stmt in (s.strip() for s in ddl.split(";")) if isinstance(ddl, str) else ():
                    if stmt:
                        self.db.execute(stmt)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise

    # -- runs --------------------------------------------------------------------------------
    def open_run(self, input_name: str, input_key: str, tool: dict, options: dict, fresh: bool,
                 kind: str = "batch", scoring: Optional[dict] = None) -> tuple[int, bool]:
        """(run id, resumed): the unfinished (or last) run of this input, or a new one."""
        if not fresh:
            row = self.db.execute("SELECT id, rules_version FROM runs WHERE input_key=? ORDER BY id DESC LIMIT 1",
                                  (input_key,)).fetchone()
            if row is not None:
                return row["id"], True
        cur = self.db.execute(
            "INSERT INTO runs (input, input_key, started_at, tool_version, rules_version, options, kind, scoring)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (input_name, input_key, now_iso(), tool["version"], tool["rules_version"], json.dumps(options), kind,
             json.dumps(scoring) if scoring is not None else None))
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
    def write_site(self, run_id: int, line: Optional[int], url: str, columns: dict, report: SiteReport,
                   reviewed: Optional[tuple[float, str]] = None):
        """Everything about one finished site, in one transaction: the machine's report as it was
        made, and (when a reviewer's dismissals change it) the reviewed score and band."""
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
                " pages_fetched, reviewed_score, reviewed_band) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, line, url, json.dumps(columns, ensure_ascii=False), "failed" if failed else "done",
                 None if failed else report.score, None if failed else report.band, error, report.audited_at,
                 json.dumps(d, ensure_ascii=False), len(report.pages),
                 *(reviewed if reviewed and not failed else (None, None))))
            site_id = cur.lastrowid
            for p in report.pages:
                text_sha = self._keep_text(p.source_text)
                pid = db.execute(
                    "INSERT INTO pages (site_id, url, status, fetched_at, sha256, warc_record_id, title, score,"
                    " text_sha256) VALUES (?,?,?,?,?,?,?,?,?)",
                    (site_id, p.url, p.meta.get("status"), p.meta.get("fetched_at"), p.meta.get("sha256"),
                     p.meta.get("warc_record_id"), p.title, p.score, text_sha)).lastrowid
                rows = []
                for f in p.findings:
                    key = review_key(f.category, f.text)
                    rows.append((site_id, pid, f.rule, f.category, f.severity, f.confidence, f.text, f.sentence,
                                 f.start, f.end, f.region, f.points, fingerprint(f), key, finding_id(url, key)))
                db.executemany(
                    'INSERT INTO findings (site_id, page_id, rule, category, severity, confidence, text, sentence,'
                    ' start, "end", region, points, fingerprint, review_key, review_id)'
                    ' VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)', rows)
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

    def _keep_text(self, text: Optional[str]) -> Optional[str]:
        """Store a page's audited text once (zlib, keyed by its SHA-256): review labels quote it."""
        if text is None:
            return None
        data = text.encode("utf-8")
        sha = hashlib.sha256(data).hexdigest()
        self.db.execute("INSERT OR IGNORE INTO texts (sha256, chars, zlib) VALUES (?,?,?)",
                        (sha, len(text), zlib.compress(data, 6)))
        return sha

    def text(self, sha256: str) -> Optional[str]:
        row = self.db.execute("SELECT zlib FROM texts WHERE sha256=?", (sha256,)).fetchone()
        return zlib.decompress(row[0]).decode("utf-8") if row else None

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
