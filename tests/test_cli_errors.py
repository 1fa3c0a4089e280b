"""What a user sees: ordinary mistakes end in one clear line and exit 2 (never a traceback),
inputs that were not audited never read as clean pages, and `audit` names the page of every
finding and error."""
import csv
import io
import json
import os
import subprocess
import threading

import jsonschema
import pytest

from conftest import SHARED, run_cli
from siteserver import FixtureServer, SmallSite, ThreadingHTTPServer, make_small_handler

FAST = ["--delay", "0", "--jitter", "0", "--retries", "0", "--timeout", "3", "--allow-private"]   # servers on 127.0.0.1


def one_line_error(r, *needles):
    """Exit 2, one line on stderr holding every needle, no traceback."""
    err = r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err[-2000:])
    assert "Traceback" not in err and err.count("\n") == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture()
def small_site():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_small_handler(SmallSite(1)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def readonly_dir(tmp_path):
    """A folder nobody may write: chmod for a user, a read-only tmpfs for root (whom modes do not stop)."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("SKIPPED: running as root where tmpfs cannot be mounted: no read-only folder to test with")
    yield d
    subprocess.run(["umount", str(d)])


# -- 15: ordinary mistakes -------------------------------------------------------------------
def test_export_with_an_unknown_format(tmp_path):
    from auditor.store.db import Store
    db = tmp_path / "auditor.db"
    Store(db).open_run("x.txt", "k", {"version": "0", "rules_version": "r"}, {}, False)
    r = run_cli("export", "1", "--db", db, "--formats", "csv")
    one_line_error(r, "--formats 'csv': unknown format 'csv'", "json, markdown, html")


def test_url_list_with_undecodable_bytes_reports_the_line_and_goes_on(tmp_path, small_site):
    url, _ = small_site
    inp = tmp_path / "list.txt"
    inp.write_bytes(b"# clinics\n" + url.encode() + b"\nhttp://caf\xe9.example/\n" + url.encode() + b"?p=2\n")
    r = run_cli("batch", inp, "--output-dir", tmp_path / "out", *FAST, "--max-pages", "1", "--formats", "json")
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert f"{inp}:3: not valid UTF-8 (byte 0xe9)" in err and "skipped" in err
    summary = list(csv.DictReader(open(tmp_path / "out" / "run-1" / "summary.csv", encoding="utf-8")))
    assert [row["line"] for row in summary] == ["2", "4"]


def test_rule_pattern_with_min_above_max(tmp_path):
    from test_rule_validation import GOOD_RULE, _rules_dir
    d = _rules_dir(tmp_path, "mine.yml", GOOD_RULE.replace("      - guarantee result\n",
                                                           "      - guarantee _{9,2} result\n"))
    one_line_error(run_cli("rules", "--check", d), "mine.yml:9:", "{9,2}")


@pytest.mark.parametrize("setting,needle", [
    ('delay = "fast"', "delay = 'fast': input should be a valid number"),
    ('max_pages = "20"', "max_pages = '20': input should be a valid integer"),
    ("max_pages = 2.5", "max_pages = 2.5: input should be a valid integer"),
    ('obey_robots = "no"', "obey_robots = 'no': input should be a valid boolean"),
    ("contact = 5", "contact = 5: input should be a valid string"),
    ("allowed_types = [1]", "allowed_types = (1,): input should be a valid string"),
])
def test_config_value_of_the_wrong_type_names_the_key(tmp_path, setting, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[crawl]\n{setting}\n", encoding="utf-8")
    inp = tmp_path / "l.txt"
    inp.write_text("http://127.0.0.1:9/\n", encoding="utf-8")
    cmds = [["audit", "--output-dir", tmp_path / "o", "http://127.0.0.1:9/"], ["batch", inp]]
    for cmd in cmds if setting.startswith("delay") else cmds[:1]:     # one reading serves both commands
        one_line_error(run_cli(cmd[0], "--config", cfg, *cmd[1:]), f"bad configuration: {cfg}: {needle}")
    assert not (tmp_path / "o").exists()


def test_output_into_a_missing_folder_fails_before_the_audit(tmp_path):
    with FixtureServer() as server:
        missing = tmp_path / "no" / "such" / "report.json"
        r = run_cli("audit", "-o", missing, "--output-dir", tmp_path / "warc", *FAST, server.url + "/")
        one_line_error(r, f"-o {missing}: the folder {missing.parent} does not exist")
        assert server.site.log == [] and not (tmp_path / "warc").exists()       # nothing fetched or written
    one_line_error(run_cli("scan", "-o", missing, tmp_path), "does not exist")


def test_db_that_is_not_a_store_or_cannot_be_written(tmp_path, small_site):
    url, _ = small_site
    inp = tmp_path / "l.txt"
    inp.write_text(url + "\n", encoding="utf-8")
    notdb = tmp_path / "notes.db"
    notdb.write_text("my notes, not a database\n", encoding="utf-8")
    one_line_error(run_cli("batch", inp, "--db", notdb, "--output-dir", tmp_path / "o", *FAST),
                   f"{notdb}: not a SQLite database")
    assert notdb.read_text(encoding="utf-8") == "my notes, not a database\n"
    for cmd in (["history", url], ["diff", url], ["export", "1"]):
        one_line_error(run_cli(*cmd, "--db", notdb), "not a SQLite database")
    import sqlite3
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE patients (name TEXT)")
    con.commit()
    con.close()
    one_line_error(run_cli("history", url, "--db", other), "a SQLite database, but not an auditor store")
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["patients"]
    under_a_file = notdb / "auditor.db"                      # a path through a regular file
    one_line_error(run_cli("batch", inp, "--db", under_a_file, "--output-dir", tmp_path / "o", *FAST),
                   str(under_a_file))


def test_read_only_output_folder(tmp_path, readonly_dir, small_site):
    url, httpd = small_site
    inp = tmp_path / "l.txt"
    inp.write_text(url + "\n", encoding="utf-8")
    one_line_error(run_cli("batch", inp, "--output-dir", readonly_dir / "out", *FAST),
                   f"--output-dir {readonly_dir / 'out'}: the folder {readonly_dir} is not writable")
    one_line_error(run_cli("audit", "--output-dir", readonly_dir, *FAST, url), "is not writable")
    one_line_error(run_cli("scan", "-o", readonly_dir / "r.json", inp), "is not writable")
    one_line_error(run_cli("batch", inp, "--output-dir", tmp_path / "o", "--db", readonly_dir / "a.db", *FAST),
                   str(readonly_dir / "a.db"))


# -- 16: not audited is not clean -------------------------------------------------------------
def _schema():
    path = SHARED / "report.schema.json"
    if not path.exists():
        pytest.skip("SKIPPED: ../shared/report.schema.json not present")
    return json.loads(path.read_text(encoding="utf-8"))


def test_inputs_not_audited_have_no_score(tmp_path):
    missing, binary, good = tmp_path / "missing.txt", tmp_path / "b.txt", tmp_path / "good.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    good.write_text("Satisfaction guaranteed.", encoding="utf-8")
    reps = [json.loads(line) for line in run_cli("scan", "--format", "jsonl", missing, binary, good).stdout.splitlines()]
    term = _formatted("terminal", reps).splitlines()
    assert term[0] == f"{missing}: not audited: no such file or folder"
    assert term[1].startswith(f"{binary}: not audited: binary file")
    assert term[2].startswith(f"{good}: score {reps[2]['score']:g} (low)") and reps[2]["score"] > 0
    assert "score 0" not in "\n".join(term)
    schema = _schema()
    for rep in reps:
        jsonschema.validate(rep, schema)
    assert [(r["score"], r["band"]) for r in reps[:2]] == [(None, None), (None, None)]
    assert reps[0]["errors"][0]["reason"].endswith("no such file or folder")
    rows = list(csv.DictReader(io.StringIO(_formatted("csv", reps))))
    assert [(r["target"], bool(r["error"]), bool(r["rule"])) for r in rows] == \
        [(str(missing), True, False), (str(binary), True, False), (str(good), False, True)]
    md = _formatted("markdown", reps[:1])
    assert "**Not audited**: no such file or folder." in md and "Score" not in md
    html = _formatted("html", reps[:1])
    assert "not audited" in html and "/ 100" not in html


def _formatted(fmt, reps) -> str:
    """The reports a CLI run printed as JSON, through another formatter."""
    from auditor.model import report_from_dict
    from auditor.report import FORMATTERS
    out = io.StringIO()
    FORMATTERS[fmt]([report_from_dict(r) for r in reps], out, {})
    return out.getvalue()


def test_sites_not_audited_have_no_score(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()
    with FixtureServer() as server:
        robots = server.url + "/private/notes"             # Disallow: /private/
        r = run_cli("audit", "-q", "--format", "json", "--output-dir", tmp_path, *FAST, "--only-url", refused, robots)
        assert r.returncode == 3
        reps = json.loads(r.stdout)
    lines = _formatted("terminal", reps).splitlines()
    from auditor.report.text_formats import tool_line
    assert lines == [f"{refused}: not audited: connection refused",
                     f"{robots}: not audited: disallowed by robots.txt",
                     f"produced by {tool_line(reps[0]['tool'])}"], lines          # the tool line closes it
    schema = _schema()
    for rep in reps:
        jsonschema.validate(rep, schema)
        assert rep["score"] is None and rep["band"] is None and rep["errors"]


# -- 17: audit names pages; URLs are read one way -------------------------------------------------
def test_audit_terminal_names_the_page_of_every_finding_and_error(tmp_path):
    with FixtureServer() as server:
        r = run_cli("audit", "-q", "--output-dir", tmp_path, *FAST, "--max-pages", "12", server.url + "/")
    out = r.stdout.decode().splitlines()
    assert out[0].startswith(server.url + "/: score ")
    errors = [ln for ln in out if ln.startswith("  error: ")]
    assert f"  error: {server.url}/download: not HTML or text (application/pdf); recorded, not audited" in errors
    assert all(ln.startswith(f"  error: {server.url}/") for ln in errors), errors
    pages = [ln for ln in out if ln.startswith("  page ")]
    assert f"  page {server.url}/treatments: " in "\n".join(pages) and len(pages) >= 5
    assert out[-1].startswith("produced by auditor ")                       # the tool line closes it
    page = None
    for ln in out[1:-1]:
        if ln.startswith("  page "):
            page = ln
        elif not ln.startswith("  error: "):
            assert page is not None and ln.startswith("    "), ln        # every finding under its page
    assert any("fda.approved-therapy" in ln for ln in out)


@pytest.mark.parametrize("raw,hint", [
    ("htp://clinic.example/", "(did you mean http://clinic.example/?)"),
    ("not a url", None),
    ("clinic.example:8080", "(did you mean http://clinic.example:8080/?)"),
    ("clinic.example/stem-cells", "(did you mean http://clinic.example/stem-cells?)"),
    ("ftp://clinic.example/", None),
])
def test_malformed_url_is_a_usage_error_read_the_same_by_audit_and_batch(tmp_path, raw, hint):
    r = run_cli("audit", "--output-dir", tmp_path / "o", raw)
    err = one_line_error(r, f"auditor: {raw!r}: not an http(s) URL", *([hint] if hint else []))
    assert "did you mean" not in err if hint is None else True
    assert not (tmp_path / "o").exists()                    # no empty WARC
    inp = tmp_path / "l.txt"
    inp.write_text(raw + "\n", encoding="utf-8")
    b = run_cli("batch", inp, "--output-dir", tmp_path / "o")
    line = err.split(": ", 2)[2].strip()                     # the reason (and hint) audit gave
    reason, _, _ = line.partition(" (did you mean")
    assert f"{inp}:1: {reason}: {raw!r}" + (f" {hint}" if hint else "") + "; skipped" in b.stderr.decode()
    assert b.returncode == 2 and "no URLs to audit" in b.stderr.decode()


def test_host_port_that_batch_used_to_accept_is_refused_with_a_hint(tmp_path, small_site):
    url, _ = small_site
    bare = url[len("http://"):].rstrip("/")                     # 127.0.0.1:PORT
    inp = tmp_path / "l.txt"
    inp.write_text(f"{bare}\n{url}\n", encoding="utf-8")
    r = run_cli("batch", inp, "--output-dir", tmp_path / "o", *FAST, "--max-pages", "1", "--formats", "json")
    assert r.returncode == 0, r.stderr.decode()
    assert f"{inp}:1: not an http(s) URL: no scheme: {bare!r} (did you mean {url}?); skipped" in r.stderr.decode()
    one_line_error(run_cli("audit", "--output-dir", tmp_path / "a", bare), f"(did you mean {url}?)")


# -- 18: a CSV without a url column ----------------------------------------------------------------
def test_csv_without_a_url_column_says_one_is_needed(tmp_path):
    for name in ("clinics.csv", "clinics.txt"):
        inp = tmp_path / name
        inp.write_text("name,website,state\nRenewal,http://127.0.0.1:9/,CA\n", encoding="utf-8")
        one_line_error(run_cli("batch", inp, "--output-dir", tmp_path / "o"),
                       f"{inp}: a CSV list needs a column named 'url' (its columns are 'name', 'website', 'state')")
    assert not (tmp_path / "o" / "auditor.db").exists()
