"""The HTML report in a real browser: renders, runs no script from page text, prints to PDF.

Chromium is Debian's package (.ci/run installs it when absent). Started headless with a fresh
profile; its console (with --enable-logging) tells whether anything ran or was blocked.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.model import Finding, PageResult, SiteReport
from auditor.report.html import render_site
from conftest import ROOT, run_cli

FIXTURES = Path(__file__).parent / "fixtures"
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("SKIPPED: chromium not installed (apt-get install chromium)")
    return CHROMIUM


def browse(chromium, tmp_path, page: Path, *args) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--hide-scrollbars", "--window-size=1200,1800", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln]


def _report_file(tmp_path, source: Path) -> Path:
    out = tmp_path / (source.stem + ".report.html")
    r = run_cli("scan", "--format", "html", "--output", out, source)
    assert r.returncode == 0, r.stderr.decode()
    return out


def test_clinic_report_renders_cleanly_with_screenshot(chromium, tmp_path):
    report = _report_file(tmp_path, ROOT / "samples" / "clinic-renewal.html")
    html = report.read_text(encoding="utf-8")
    # self-contained: nothing to fetch
    for needle in ("<link", "<script", "src=\"http", "@import", "url("):
        assert needle not in html, needle
    r = browse(chromium, tmp_path, report, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert console_lines(r.stderr) == []
    dom = r.stdout
    assert "Audit of" in dom and "FDA approved" in dom and "<mark>" in dom and "<svg" in dom
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "clinic-report.png"
    shot.unlink(missing_ok=True)
    r = browse(chromium, tmp_path, report, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fixture_site_audit_report_in_the_browser(chromium, tmp_path):
    """The report of a crawled site: several pages, each with its URL, fetch time, status,
    SHA-256 and WARC record."""
    from siteserver import FixtureServer
    with FixtureServer() as server:
        report = tmp_path / "site.html"
        r = run_cli("audit", "--allow-private", "--delay", "0", "--jitter", "0", "--max-pages", "5", "--output-dir", tmp_path,
                    "--format", "html", "--output", report, "-q", server.url + "/")
        assert r.returncode in (0, 3), r.stderr.decode()[-2000:]
    html = report.read_text(encoding="utf-8")
    assert html.count("<dt>SHA-256</dt>") >= 4 and html.count("<dt>WARC record</dt>") >= 4
    assert "<urn:uuid:" not in html and "&lt;urn:uuid:" in html            # record ids, escaped
    r = browse(chromium, tmp_path, report, "--dump-dom")
    assert console_lines(r.stderr) == []
    assert "Page: Treatments" in r.stdout and "footer" in r.stdout
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "fixture-site-report.png"
    shot.unlink(missing_ok=True)
    browse(chromium, tmp_path, report, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000


def test_hostile_page_text_renders_inert(chromium, tmp_path):
    report = _report_file(tmp_path, FIXTURES / "hostile.html")
    html = report.read_text(encoding="utf-8")
    assert "data-pwned" in html                          # the text is there, as text
    assert "<script>document" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html
    r = browse(chromium, tmp_path, report, "--dump-dom")
    assert r.returncode == 0
    dom = r.stdout
    assert console_lines(r.stderr) == [], console_lines(r.stderr)   # nothing ran, nothing was blocked
    body_tag = dom[dom.index("<body"):dom.index(">", dom.index("<body")) + 1]
    assert "data-pwned" not in body_tag
    assert "&lt;script&gt;document.body.setAttribute" in dom      # shown to the reviewer, escaped
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "hostile-report.png"
    shot.unlink(missing_ok=True)
    browse(chromium, tmp_path, report, f"--screenshot={shot}")
    assert shot.exists()


def test_hostile_urls_and_references_are_not_links(tmp_path):
    f = Finding(rule="x.y", category="guarantee", severity="high", confidence=0.9, text="guaranteed",
                sentence="Results guaranteed.", start=8, end=18)
    page = PageResult(url="javascript:alert(1)", title="<b>t</b>", score=15, band="moderate", findings=[f])
    rep = SiteReport(target="\"><script>alert(1)</script>", audited_at="2026-01-01T00:00:00Z", score=15,
                     band="moderate", pages=[page], tool={"name": "auditor", "version": "0", "rules_version": "x"})
    html = render_site(rep, {"x.y": {"rationale": "<i>r</i>", "references": ["javascript:alert(2)",
                                                                              "https://example.org/a?b=1&c=2"]}})
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'href="javascript:' not in html
    assert 'href="https://example.org/a?b=1&amp;c=2"' in html
    assert "<i>r</i>" not in html and "<b>t</b>" not in html


def test_print_to_pdf_has_the_findings(chromium, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    report = _report_file(tmp_path, ROOT / "samples" / "clinic-renewal.html")
    pdf = tmp_path / "report.pdf"
    r = browse(chromium, tmp_path, report, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.exists(), r.stderr[-2000:]
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(str(pdf)).pages)
    text = " ".join(text.split())
    assert "Audit of" in text
    # every finding's rule id is in the printed document
    data = json.loads(run_cli("scan", "--format", "json", ROOT / "samples" / "clinic-renewal.html").stdout)
    for f in data["pages"][0]["findings"]:
        assert f["rule"] in text, f["rule"]
    assert "Dismissed matches" in text


def test_batch_index_sorts_and_filters_in_the_browser(chromium, tmp_path):
    from auditor.report.html import render_index
    rows = [
        {"target": "https://b-clinic.example/", "score": 80, "band": "severe", "counts": {"guarantee": 2},
         "report": "b.html"},
        {"target": "https://a-clinic.example/", "score": 20, "band": "moderate", "counts": {"testimonial": 1},
         "report": "a.html"},
        {"target": "https://down.example/<script>document.body.setAttribute('data-pwned',1)</script>",
         "score": None, "band": None, "counts": {}, "error": "DNS failure"},
    ]
    index = tmp_path / "index.html"
    index.write_text(render_index(rows, "Batch audit", ["guarantee", "testimonial"]), encoding="utf-8")
    html = index.read_text(encoding="utf-8")
    assert html.index("b-clinic") < html.index("a-clinic")          # highest score first
    r = browse(chromium, tmp_path, index, "--dump-dom")
    assert console_lines(r.stderr) == [], console_lines(r.stderr)
    assert "data-pwned" not in r.stdout[r.stdout.index("<body"):r.stdout.index(">", r.stdout.index("<body"))]
    # the inline script sorts and filters; a URL fragment drives it so the test needs no clicks
    page = index.as_uri() + "#sort=site&band=moderate"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", page]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert dom.index("a-clinic") < dom.index("b-clinic")                # sorted by site name
    b_row = dom[dom.rindex("<tr", 0, dom.index("b-clinic")):dom.index("b-clinic")]
    assert "hidden" in b_row                                            # filtered out by band


def _width_at(chromium, tmp_path, html_file: Path, width: int, tag: str) -> int:
    """The page's scrollWidth in a window `width` px wide: a copy gets one measuring script, allowed by
    the page's own CSP nonce, that writes the width into the DOM Chromium dumps."""
    import re
    html = html_file.read_text(encoding="utf-8")
    nonce = re.search(r'nonce-([0-9a-f]+)', html).group(1)
    probe = (f'<script nonce="{nonce}">document.body.setAttribute("data-width", '
             f'String(document.documentElement.scrollWidth));</script></body>')
    copy = html_file.with_name(f"{tag}-probe.html")
    copy.write_text(html.replace("</body>", probe, 1), encoding="utf-8")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / ('p-' + tag)}", f"--window-size={width},900", "--dump-dom", copy.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    return int(re.search(r'data-width="(\d+)"', dom).group(1))


def test_batch_index_shows_the_csv_columns_and_fits_1280px(chromium, tmp_path):
    import csv
    from siteserver import ManySites
    names = ["Renewal Regenerative Medicine & Stem Cell Institute of Greater Springfield", "Clinic B", "Clinic C",
             "Down Clinic"]
    with ManySites(4) as many:
        inp = tmp_path / "clinics.csv"
        with open(inp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["clinic name", "url", "state", "licence"])
            for name, u, st in zip(names, many.urls, ["CA", "TX", "NY", "FL"]):
                w.writerow([name, u, st, "MD-" + "0" * 30])
        out = tmp_path / "out"
        r = run_cli("batch", inp, "--allow-private", "--output-dir", out, "--delay", "0", "--jitter", "0", "--max-pages", "3",
                    "--retries", "0", "--timeout", "5", "--formats", "html", "-q")
        assert r.returncode == 3, r.stderr.decode()[-2000:]                # site 3 answers 404 by design
    index = out / "run-1" / "index.html"
    html = index.read_text(encoding="utf-8")
    for col in ("clinic name", "state", "licence", "Top finding"):
        assert f">{col}</button>" in html or f">{col}</th>" in html, col
    assert names[0].replace("&", "&amp;") in html and ">TX</td>" in html
    assert "guarantee: We guarantee" in html                             # the top finding, from the store
    assert "Produced by auditor " in html
    dom = browse(chromium, tmp_path, index, "--dump-dom")
    assert console_lines(dom.stderr) == [], console_lines(dom.stderr)
    assert _width_at(chromium, tmp_path, index, 1280, "index") <= 1280
    # the measurement can fail: a page wider than the window is caught
    wide = tmp_path / "wide.html"
    wide.write_text(html.replace("<h1>", '<div style="width:2000px">x</div><h1>', 1), encoding="utf-8")
    assert _width_at(chromium, tmp_path, wide, 1280, "wide") > 1280
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "batch-index-1280.png"
    shot.unlink(missing_ok=True)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'p-shot'}", "--window-size=1280,900", f"--screenshot={shot}", index.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    import struct
    assert struct.unpack(">II", shot.read_bytes()[16:24]) == (1280, 900)   # PNG width and height


def test_multi_input_html_starts_with_a_summary_that_links_to_each(chromium, tmp_path):
    out = tmp_path / "all.html"
    r = run_cli("scan", "--format", "html", "-o", out, ROOT / "samples")
    assert r.returncode == 0, r.stderr.decode()
    html = out.read_text(encoding="utf-8")
    n = html.count('<div id="report-')
    assert n == 3 and html.count('href="#report-') == n
    assert html.index("Audit of 3 inputs") < html.index('<div id="report-1">')
    assert "<title>Audit of 3 inputs</title>" in html and "Produced by auditor " in html
    dom = browse(chromium, tmp_path, out, "--dump-dom")
    assert console_lines(dom.stderr) == []
    first_row = dom.stdout[dom.stdout.index("<tbody>"):]
    assert 'href="#report-2"' in first_row[:first_row.index("</tr>")]     # highest score first: the clinic
