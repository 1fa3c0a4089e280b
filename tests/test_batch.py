"""`auditor batch` against ~200 local fixture sites: killed part-way, resumed, nothing lost or doubled."""
import csv
import json
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import ROOT, run_cli
from siteserver import ManySites, SmallSite

N = 200


def _cmd(*args):
    return [sys.executable, "-m", "auditor.cli", *map(str, args)]


def _done(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM sites").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_batch_killed_and_resumed_audits_every_site_exactly_once(tmp_path):
    with ManySites(N) as many:
        inp = tmp_path / "clinics.csv"
        with open(inp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "url", "state"])
            for i, u in enumerate(many.urls):
                w.writerow([f"Clinic {i}", u, "CA" if i % 2 else "TX"])
            w.writerow(["Broken row", "not a url", "NY"])
            w.writerow(["Mailto row", "mailto:x@example.org", "NY"])
        out, db = tmp_path / "out", tmp_path / "out" / "auditor.db"
        args = ["batch", inp, "--allow-private", "--output-dir", out, "--delay", "0.05", "--jitter", "0",
                "--max-pages", "3", "--timeout", "5", "--retries", "0", "--concurrency", "16", "--formats", "json"]
        proc = subprocess.Popen(_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _done(db) < 40 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the batch finished before it could be killed; slow it down"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = _done(db)
        assert 40 <= killed_at < N
        err1 = proc.stderr.read().decode()
        assert f"{inp}:{N + 2}: not an http(s) URL: 'not a url'" in err1
        assert f"{inp}:{N + 3}: not an http(s) URL" in err1

        r = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=300)
        err2 = r.stderr.decode()
        assert "resuming run 1" in err2, err2[-2000:]
        assert r.returncode == 3, err2[-2000:]                          # some sites fail by design

    con = sqlite3.connect(db)
    rows = con.execute("SELECT url, status, error, input_json FROM sites WHERE run_id=1").fetchall()
    assert len(rows) == N                                              # nothing lost
    assert len({u for u, *_ in rows}) == N                             # nothing doubled
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    by_url = {u: (s, e, json.loads(i)) for u, s, e, i in rows}
    for i, u in enumerate(many.urls):
        status, error, cols = by_url[u]
        assert cols == {"name": f"Clinic {i}", "state": "CA" if i % 2 else "TX"}
        mode = ManySites.MODES.get(i % 10, "ok")
        if mode == "ok":
            assert status == "done", (u, error)
        else:
            assert status == "failed" and error, (u, mode)
            expect = {"404": "HTTP 404", "500": "HTTP 500", "loop": "redirect loop", "refused": "connection refused"}
            assert expect[mode] in error, (mode, error)
    # each page row belongs to one site row; findings were stored
    assert con.execute("SELECT COUNT(*) FROM pages p LEFT JOIN sites s ON s.id=p.site_id WHERE s.id IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM findings").fetchone()[0] > N
    # the summaries: a row per site, input columns kept, in input order
    summary = list(csv.DictReader(open(out / "run-1" / "summary.csv", encoding="utf-8")))
    assert [r["url"] for r in summary] == many.urls
    assert summary[0]["name"] == "Clinic 0" and summary[0]["state"] == "TX" and summary[0]["band"]
    assert summary[3]["error"].startswith("HTTP 404") and not summary[3]["band"]
    assert summary[0]["error"].startswith("2 page(s) not audited: HTTP 404")   # nav links to missing pages
    lines = [json.loads(l) for l in open(out / "run-1" / "summary.jsonl", encoding="utf-8")]
    assert len(lines) == N and lines[0]["counts"]
    assert len(list((out / "run-1" / "reports").glob("*.json"))) == N
    # export again from the store alone, no crawl
    r = run_cli("export", "1", "--db", db, "--output-dir", tmp_path / "again", "--formats", "json")
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "again" / "summary.csv").read_text(encoding="utf-8") == \
        (out / "run-1" / "summary.csv").read_text(encoding="utf-8")
    r = run_cli("export", "1", "--db", db, "--output-dir", tmp_path / "html", "--formats", "html")
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert index.count("<tr data-band") == N and "reports/00001-" in index


def test_history_and_diff_after_a_site_changes(tmp_path):
    from siteserver import ThreadingHTTPServer, make_small_handler
    import threading
    site = SmallSite(1)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_small_handler(site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        inp = tmp_path / "one.txt"
        inp.write_text(f"# one clinic\n\n{url}\n", encoding="utf-8")
        out = tmp_path / "out"
        args = ["batch", inp, "--allow-private", "--output-dir", out, "--delay", "0", "--jitter", "0",
                "--formats", "json", "-q"]
        assert run_cli(*args).returncode == 0
        site.version = 2                                  # the guarantee goes, an FDA claim comes
        assert run_cli(*args, "--fresh").returncode == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    db = out / "auditor.db"
    h = run_cli("history", url, "--db", db)
    assert h.returncode == 0
    lines = h.stdout.decode().splitlines()
    assert len(lines) == 3 and lines[1].split()[0] == "1" and lines[2].split()[0] == "2"
    d = run_cli("diff", url, "--db", db)
    text = d.stdout.decode()
    assert d.returncode == 1, d.stderr.decode()          # findings were added, as git diff --exit-code
    assert "+ critical fda.approved-therapy" in text
    assert "- high     guarantee.outcome" in text
    # the unchanged pages' findings are matched by rule and text, not offsets
    dj = json.loads(run_cli("diff", url, "--db", db, "--json").stdout)
    assert dj["unchanged"] >= 2 and len(dj["added"]) == 1 and len(dj["removed"]) == 1


def test_store_migrates_an_older_database(tmp_path):
    from auditor.store.db import MIGRATIONS, SCHEMA_VERSION, Store
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);" + MIGRATIONS[0][1] +
                      "INSERT INTO meta VALUES ('schema_version', '1');"
                      "INSERT INTO runs (input, input_key, started_at, tool_version, rules_version)"
                      " VALUES ('x.txt', 'k', '2026-01-01T00:00:00Z', '0.0.1', 'r1');"
                      "INSERT INTO sites (run_id, url, status, score, band, audited_at, report_json)"
                      " VALUES (1, 'http://a.example/', 'done', 20, 'moderate', '2026-01-01T00:00:00Z', '{}');"
                      "INSERT INTO findings (site_id, rule, category, severity, text)"
                      " VALUES (1, 'guarantee.outcome', 'guarantee', 'high', 'Results  GUARANTEED!');")
    con.commit()
    con.close()
    s = Store(path)
    assert s.version() == SCHEMA_VERSION == 5
    assert s.run(1)["input"] == "x.txt"
    cols = {r[1] for r in s.db.execute("PRAGMA table_info(sites)")}
    assert "pages_fetched" in cols
    from auditor.review import finding_id
    row = s.db.execute("SELECT review_key, review_id FROM findings").fetchone()
    assert tuple(row) == ("guarantee|results guaranteed", finding_id("http://a.example/", "guarantee|results guaranteed"))
    summary = s.db.execute("SELECT site, score, findings, guarantee FROM site_summary").fetchone()
    assert tuple(summary) == ("http://a.example/", 20, 1, 1)


def test_bad_input_file_lines(tmp_path):
    inp = tmp_path / "l.txt"
    inp.write_text("# nothing usable\n\nftp://x.example/\n", encoding="utf-8")
    r = run_cli("batch", inp, "--output-dir", tmp_path)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert f"{inp}:3: not an http(s) URL" in err and "no URLs to audit" in err
