"""Shared fixtures: one Auditor per test session (spaCy loads once), paths to shared data."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def auditor():
    from auditor.pipeline import Auditor
    return Auditor()


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "tools" / "claimeval").exists():
        pytest.skip(f"SKIPPED: ../shared not found at {SHARED}; the quality gates need it (CI has it)")
    return SHARED


def run_cli(*args, stdin=None, cwd=None):
    """Run the installed console script as a user would."""
    return subprocess.run([sys.executable, "-m", "auditor.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd or ROOT, timeout=300)


def store_content(db):
    """A batch store's content without times, run ids or WARC names: (sites, pages, findings),
    each sorted, plus each site's WARC path as the report recorded it."""
    import sqlite3
    con = sqlite3.connect(db)
    sites = sorted(con.execute("SELECT line, url, input_json, status, score, band, error FROM sites").fetchall())
    pages = sorted(con.execute("SELECT s.url, p.url, p.status, p.sha256, p.title, p.score FROM pages p "
                               "JOIN sites s ON s.id = p.site_id").fetchall())
    findings = sorted(con.execute("SELECT s.url, f.rule, f.category, f.severity, f.text, f.start, f.\"end\" "
                                  "FROM findings f JOIN sites s ON s.id = f.site_id").fetchall())
    warcs = [r[0] for r in con.execute("SELECT json_extract(report_json, '$.warc') FROM sites")]
    con.close()
    return sites, pages, findings, warcs
