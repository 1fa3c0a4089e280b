"""The reviewer's workflow through the real CLI and a real SQLite store: audit a local site, confirm
and dismiss findings, change the site, audit it again, and read history, diff, reports and the
exported labels."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest

from auditor.model import report_from_dict
from conftest import ROOT, SHARED, run_cli
from siteserver import SmallSite, ThreadingHTTPServer, make_small_handler

REVIEWER = "A. Reviewer"
# the claims of the fixture site (siteserver.SmallSite); a judged finding's text is its sentence
GUAR = "We guarantee results for every knee."
SATIS = "Satisfaction guaranteed on every stem cell package."
REV = "A revolutionary approach."
FDA = "Our exosome therapy is FDA approved."


def _audit(url, tmp, name, *extra):
    out = tmp / f"{name}.json"
    r = run_cli("audit", "--allow-private", "--delay", "0", "--jitter", "0", "--retries", "0", "--output-dir", tmp / "out",
                "--db", tmp / "review.db", "-q", "-f", "json", "-o", out, *extra, url)
    assert r.returncode in (0, 3), r.stderr.decode()[-2000:]           # 3: the nav links to two 404s
    return json.loads(out.read_text(encoding="utf-8"))


def _findings(report, where="findings"):
    return [(p["url"], f) for p in report["pages"] for f in p[where]]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """Audit 1 (v1 of the site), decisions, audit 2 (v2: the guarantee on the home page is gone and an
    FDA claim came), the diff, then audit 3 with a renamed rule."""
    tmp = tmp_path_factory.mktemp("review")
    site = SmallSite(1)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_small_handler(site))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    db = tmp / "review.db"
    res = {"url": url, "db": db, "tmp": tmp}
    try:
        res["audit1"] = _audit(url, tmp, "audit1")
        listed = run_cli("review", "--json", "--site", url, "--db", db)
        assert listed.returncode == 0, listed.stderr.decode()
        res["pending1"] = json.loads(listed.stdout)
        by_text = {c["text"]: c for c in res["pending1"]}
        res["ids"] = {t: by_text[t]["id"] for t in (GUAR, SATIS, REV)}
        r = run_cli("review", "confirm", res["ids"][GUAR], res["ids"][SATIS][:6],
                    "--reason", "promises an outcome", "--by", REVIEWER, "--db", db)
        assert r.returncode == 0, r.stderr.decode()
        res["confirm_out"] = r.stdout.decode()
        r = run_cli("review", "dismiss", res["ids"][REV], "--reason", "mild hype, not a cure claim",
                    "--by", REVIEWER, "--db", db)
        assert r.returncode == 0, r.stderr.decode()
        site.version = 2
        res["audit2"] = _audit(url, tmp, "audit2")
        res["pending2"] = json.loads(run_cli("review", "--json", "--site", url, "--db", db).stdout)
        res["diff"] = run_cli("diff", url, "--db", db)
        res["diff_json"] = run_cli("diff", url, "--db", db, "--json")
        res["history2"] = json.loads(run_cli("history", url, "--db", db, "--json").stdout)
        rules = tmp / "rules"
        shutil.copytree(ROOT / "rules", rules)
        # guarantees stand on the rules (too few training examples for the judge), so a renamed
        # guarantee rule finds the same claim with the same evidence
        guarantee = rules / "guarantee.yml"
        guarantee.write_text(guarantee.read_text(encoding="utf-8").replace("id: guarantee.outcome\n",
                                                                           "id: guarantee.promise\n"),
                           encoding="utf-8")
        res["audit3"] = _audit(url, tmp, "audit3", "--rules", rules)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return res


def test_audit_followed_by_history_works(reviewed):
    h = run_cli("history", reviewed["url"], "--db", reviewed["db"], "--json")
    assert h.returncode == 0, h.stderr.decode()
    rows = json.loads(h.stdout)
    assert [r["run_kind"] for r in rows] == ["audit", "audit", "audit"]
    assert [r["run"] for r in rows] == [1, 2, 3]
    assert all(r["pages"] == 3 and r["status"] == "done" for r in rows)
    assert rows[0]["findings"] == len({c["id"] for c in reviewed["pending1"]}) - 1    # one dismissed
    text = run_cli("history", reviewed["url"], "--db", reviewed["db"]).stdout.decode().splitlines()
    assert len(text) == 4 and text[1].split()[:2] == ["1", "audit"]
    assert reviewed["audit1"]["run"] == 1 and reviewed["audit2"]["run"] == 2


def test_decisions_survive_a_reaudit_of_a_changed_site(reviewed):
    ids = reviewed["ids"]
    out = reviewed["confirm_out"]
    assert f"confirmed {ids[SATIS]}" in out        # a prefix found the full id
    a2 = reviewed["audit2"]
    texts = {f["text"]: f for _, f in _findings(a2)}
    assert GUAR not in texts                                 # the clinic took it down
    kept = texts[SATIS]                            # the footer still says it
    assert kept["review"]["decision"] == "confirmed" and kept["review"]["reviewer"] == REVIEWER
    assert kept["review"]["reason"] == "promises an outcome" and kept["review"]["id"] == ids[SATIS]
    pending = {c["text"] for c in reviewed["pending2"]}
    assert FDA in pending                                   # new: no decision yet
    assert not pending & {SATIS, REV}   # decided ones are not asked again
    # a rule renamed, same evidence: the confirmation still holds, and so does the dismissal
    kept3 = [f for _, f in _findings(reviewed["audit3"]) if f["text"] == SATIS]
    assert [(f["rule"], f["review"]["decision"], f["review"]["id"]) for f in kept3] == \
        [("guarantee.promise", "confirmed", ids[SATIS])]
    dismissed3 = [f for _, f in _findings(reviewed["audit3"], "dismissed_by_review")]
    assert [(f["rule"], f["text"]) for f in dismissed3] == [("miracle.hype", REV)]
    assert not any(f["text"] == REV for _, f in _findings(reviewed["audit3"]))


def test_dismissed_finding_leaves_the_score_but_stays_listed(reviewed, auditor):
    from auditor.score import score_findings, selling_of
    a2 = reviewed["audit2"]
    page_a = next(p for p in a2["pages"] if p["url"].endswith("/a"))
    assert [(f["text"], f["review"]["reason"]) for f in page_a["dismissed_by_review"]] == \
        [(REV, "mild hype, not a cure claim")]
    assert all(f["text"] != REV for f in page_a["findings"])
    page = report_from_dict(a2).pages[[p["url"] for p in a2["pages"]].index(page_a["url"])]
    expect, _ = score_findings(page.findings, page.mitigations, auditor.rules.scoring, auditor.weights,
                               selling_of(page))
    assert page_a["score"] == expect
    h = reviewed["history2"][-1]
    assert h["score"] == a2["score"] < h["machine_score"]               # the store keeps both
    assert a2["review"] == {"confirmed": 1, "dismissed": 1, "undecided": h["undecided"]}
    if (SHARED / "report.schema.json").exists():
        import jsonschema
        jsonschema.validate(a2, json.loads((SHARED / "report.schema.json").read_text(encoding="utf-8")))
    # every format lists it with the reason: markdown and html as `export` writes them from the store
    r = run_cli("export", "2", "--db", reviewed["db"], "--output-dir", reviewed["tmp"] / "x", "--formats",
                "markdown,html")
    assert r.returncode == 0, r.stderr.decode()
    import io
    from auditor.report import FORMATTERS
    texts = {p.suffix: p.read_text(encoding="utf-8") for p in (reviewed["tmp"] / "x" / "reports").glob("*")}
    for fmt in ("csv", "terminal"):
        buf = io.StringIO()
        FORMATTERS[fmt]([report_from_dict(a2)], buf, {})
        texts[fmt] = buf.getvalue()
    for fmt, needle in ((".md", "Dismissed by review (1, not scored)"), (".html", "Dismissed by review (1, not scored)"),
                        ("csv", ',dismissed,"mild hype, not a cure claim",A. Reviewer,'),
                        ("terminal", f"dismissed by review: miracle.hype {REV} (A. Reviewer, ")):
        assert needle in texts[fmt], (fmt, texts[fmt][:3000])
        assert "mild hype, not a cure claim" in texts[fmt]


def test_diff_tells_removed_by_the_clinic_from_dismissed_by_review(reviewed):
    d = reviewed["diff"]
    assert d.returncode == 1, d.stderr.decode()                         # a finding was added
    text = d.stdout.decode()
    assert "+ critical fda.approved-therapy" in text
    assert f"'{GUAR}'  ({reviewed['url']})  [confirmed by {REVIEWER}]" in text
    assert f"~ high     miracle.hype                     '{REV}'  dismissed by review" in text
    dj = json.loads(reviewed["diff_json"].stdout)
    assert [f["text"] for f in dj["added"]] == [FDA]
    assert [(f["text"], f["decision"]) for f in dj["removed"]] == [(GUAR, "confirmed")]
    assert [(f["text"], f["still_on_site"], f["reason"]) for f in dj["dismissed_by_review"]] == \
        [(REV, True, "mild hype, not a cure claim")]
    old, new = reviewed["history2"]
    assert new["findings"] == len(dj["added"]) + dj["unchanged"] == dj["to"]["findings"]
    assert old["findings"] == len(dj["removed"]) + dj["unchanged"] == dj["from"]["findings"]
    assert f"{len(dj['added'])} added, 1 removed by the clinic, 1 dismissed by review, {dj['unchanged']} unchanged" in text


def test_diff_since_is_validated_and_names_the_run(reviewed):
    bad = run_cli("diff", reviewed["url"], "--db", reviewed["db"], "--since", "last week")
    assert bad.returncode == 2 and "'last week' is not a date; write YYYY-MM-DD" in bad.stderr.decode()
    day = reviewed["audit1"]["audited_at"][:10]
    ok = run_cli("diff", reviewed["url"], "--db", reviewed["db"], "--since", day)
    assert ok.returncode in (0, 1)
    assert ok.stdout.decode().startswith(f"compared with run 2 ({reviewed['history2'][1]['audited_at']}), "
                                         f"the last audit on or before {day}T23:59:59Z")
    early = run_cli("diff", reviewed["url"], "--db", reviewed["db"], "--since", "2001-01-01")
    assert early.returncode == 2 and "no audit on or before 2001-01-01T23:59:59Z" in early.stderr.decode()


def test_review_errors_are_one_line(reviewed):
    r = run_cli("review", "dismiss", "ffffffffff", "--reason", "x", "--db", reviewed["db"])
    assert r.returncode == 2 and r.stderr.decode().startswith("auditor: no finding ffffffffff in")
    r = run_cli("review", "dismiss", reviewed["ids"][REV], "--db", reviewed["db"])
    assert r.returncode == 2 and "Missing option '--reason'" in r.stderr.decode()
    r = run_cli("review", "--db", reviewed["tmp"] / "missing.db")
    assert r.returncode == 2 and "no store at" in r.stderr.decode() and "Traceback" not in r.stderr.decode()


def test_store_views_open_in_sqlite(reviewed):
    db = reviewed["db"]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    site = con.execute("SELECT * FROM site_summary WHERE site=?", (reviewed["url"],)).fetchone()
    assert site["run"] == 3 and site["score"] == reviewed["audit3"]["score"] and site["band"]
    assert site["dismissed"] == 1 and site["confirmed"] == 1 and site["guarantee"] == 1
    assert site["fda-misstatement"] == 1 and site["miracle-cure"] == 0   # the dismissed claim is not counted
    decisions = {(r["text"], r["decision"]) for r in con.execute(
        "SELECT text, decision FROM finding_reviews WHERE run=2")}
    assert (REV, "dismissed") in decisions and (FDA, "undecided") in decisions
    con.close()
    if shutil.which("sqlite3"):                                          # any SQLite browser: the CLI
        r = subprocess.run(["sqlite3", "-readonly", "-header", "-csv", str(db),
                            "SELECT site, score, band, findings FROM site_summary"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "site,score,band,findings"
        assert r.stdout.splitlines()[1].startswith(reviewed["url"] + ",")


def test_exported_review_labels_validate_with_claimeval(reviewed, shared, tmp_path):
    out = tmp_path / "labels"
    r = run_cli("review", "export-labels", out, "--db", reviewed["db"])
    assert r.returncode == 0, r.stderr.decode()
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    index = (out / "index-reviewed.tsv").read_text(encoding="utf-8").splitlines()
    assert index[0] == "file\tkind\tsource\tchars"
    docs = {r["doc"] for r in labels}
    assert len(index) - 1 == len(docs) == len(list((out / "texts").glob("*.txt")))
    for row in index[1:]:
        name, kind, source, chars = row.split("\t")
        assert kind == "clinic" and source.startswith(reviewed["url"])
        assert len((out / "texts" / name).read_text(encoding="utf-8")) == int(chars)
    for lab in labels:
        if "quote" in lab:
            text = (out / lab["doc"]).read_text(encoding="utf-8")
            assert text.count(lab["quote"]) == 1, lab
    quoted = {(lab["category"], lab["quote"]) for lab in labels if "quote" in lab}
    assert ("guarantee", GUAR) in quoted and ("guarantee", SATIS) in quoted
    assert ("none", REV) in quoted and ("ambiguous", FDA) in quoted
    cmd = f"{sys.executable} -m auditor.cli scan --format jsonl"
    ev = subprocess.run([sys.executable, str(shared / "tools" / "claimeval"), "--labels", str(out / "labels.jsonl"),
                         "--texts", str(out), "--cmd", cmd, "--json"], capture_output=True, text=True, timeout=300)
    assert ev.returncode in (0, 1), ev.stderr[-2000:]
    figures = json.loads(ev.stdout)
    assert figures["docs"] == len(docs)
    g = figures["per_category"]["guarantee"]
    assert g["labels"] >= 2 and g["found"] == g["labels"]               # every confirmed claim is found again
    assert figures["per_category"]["miracle-cure"]["false"] >= 1         # the dismissed one counts as wrong
    again = run_cli("review", "export-labels", out, "--db", reviewed["db"])
    assert again.returncode == 2 and "--force" in again.stderr.decode()


def test_interactive_review_under_a_pseudo_terminal(reviewed, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    db = tmp_path / "copy.db"
    src = sqlite3.connect(reviewed["db"])
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    env = {**os.environ, "AUDITOR_REVIEWER": "pty tester", "COLUMNS": "120"}
    child = pexpect.spawn(sys.executable, ["-m", "auditor.cli", "review", "--site", reviewed["url"], "--db", str(db)],
                          cwd=str(ROOT), env=env, timeout=60, encoding="utf-8")
    try:
        child.expect(r"1/\d+")
        child.expect(FDA)                                     # the sentence, evidence marked
        child.expect(r"\[c\]onfirm, \[d\]ismiss, \[s\]kip, \[q\]uit")
        child.sendline("d")
        child.expect("Reason for dismissing")
        child.sendline("")                                               # a reason is required: asked again
        child.expect("Reason for dismissing")
        child.sendline("quotes the FDA's own list")
        child.expect("saved")
        child.expect(r"\[c\]onfirm")
        child.sendline("q")
        child.expect("0 confirmed, 1 dismissed, 0 skipped")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    con = sqlite3.connect(db)
    row = con.execute("SELECT evidence, decision, reason, reviewer FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
    con.close()
    assert row == (FDA, "dismissed", "quotes the FDA's own list", "pty tester")


def test_store_opens_in_datasette(reviewed, tmp_path):
    pytest.importorskip("datasette")
    import socket
    import time
    import urllib.request
    db = tmp_path / "review.db"
    shutil.copy(reviewed["db"], db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "datasette", "serve", "-i", str(db), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/review/site_summary.json?_shape=array"
        deadline, rows = time.monotonic() + 30, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    rows = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.2)
        assert rows is not None, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no answer"
        assert [(r["site"], r["dismissed"], r["guarantee"]) for r in rows] == [(reviewed["url"], 1, 1)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_exported_review_labels_load_in_train_and_evaluate(reviewed, tmp_path):
    """A team's reviews of two sites become a corpus that `auditor train` learns from (alone, and
    together with another corpus) and `auditor evaluate` cross-validates by site."""
    db = tmp_path / "two-sites.db"
    src, dst = sqlite3.connect(reviewed["db"]), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    second = SmallSite(1)
    try:
        httpd = ThreadingHTTPServer(("127.0.0.2", 0), make_small_handler(second))
    except OSError as e:
        pytest.skip(f"127.0.0.2 cannot be bound here ({e}); a second site needs a second address")
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url2 = f"http://127.0.0.2:{httpd.server_address[1]}/"
    try:
        r = run_cli("audit", "--allow-private", "--delay", "0", "--jitter", "0", "--retries", "0",
                    "--output-dir", tmp_path / "out", "--db", db, "-q", "-f", "json", "-o", tmp_path / "a.json", url2)
        assert r.returncode in (0, 3), r.stderr.decode()[-2000:]
    finally:
        httpd.shutdown()
        httpd.server_close()
    pending = {c["text"]: c["id"] for c in json.loads(run_cli("review", "--json", "--site", url2, "--db", db).stdout)}
    assert run_cli("review", "confirm", pending[GUAR], "--reason", "a promise", "--db", db).returncode == 0
    assert run_cli("review", "dismiss", pending[REV], "--reason", "hype", "--db", db).returncode == 0
    out = tmp_path / "labels"
    r = run_cli("review", "export-labels", out, "--db", db)
    assert r.returncode == 0, r.stderr.decode()
    sources = [row.split("\t")[2] for row in (out / "index-reviewed.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert {s.split("/")[2].split(":")[0] for s in sources} == {"127.0.0.1", "127.0.0.2"}

    model = tmp_path / "team.json.gz"
    r = run_cli("train", out, "-o", model)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    import gzip
    meta = json.loads(gzip.decompress(model.read_bytes()))
    assert meta["trained"]["pages"] == len(sources)
    page = tmp_path / "p.txt"
    page.write_text(f"{GUAR} {REV}\n", encoding="utf-8")
    rep = json.loads(run_cli("scan", "--model", model, "-f", "json", page).stdout)
    assert rep["tool"]["model_version"] == meta["id"] and rep["pages"][0]["findings"]
    both = tmp_path / "both.json.gz"                     # together with another labelled corpus
    r = run_cli("train", out, SHARED / "samples", "-o", both)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert json.loads(gzip.decompress(both.read_bytes()))["trained"]["pages"] > len(sources)

    ev = run_cli("evaluate", out, "--folds", "2", "--json")
    assert ev.returncode == 0, ev.stderr.decode()[-2000:]
    figures = json.loads(ev.stdout)
    assert {"precision", "recall", "f1", "macro_f1", "auc", "per_category"} <= set(figures)
    assert figures["folds"] == 2 and figures["per_category"]["guarantee"]["labels"] >= 2
