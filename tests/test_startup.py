"""Start-up: `auditor scan` of a plain-text file imports only what scanning text needs, and the
lazily compiled matcher finds what an eagerly compiled one does."""
import json
import subprocess
import sys

from auditor.analyse import fastmatch

# what scanning a .txt must not pay for (jinja2 and httpx are not listed: spaCy imports both itself)
HEAVY = ("bs4", "sklearn", "auditor.acquire.crawl", "numpy.ma")


def test_scan_of_text_file_skips_html_parser_crawler_and_sklearn(tmp_path):
    f = tmp_path / "tiny.txt"
    f.write_text("We offer stem cell therapy that cures arthritis.\n", encoding="utf-8")
    code = ("import sys, json\n"
            "from auditor.cli import main\n"
            "try:\n"
            f"    main(['scan', '-f', 'json', {str(f)!r}])\n"
            "except SystemExit:\n"
            "    pass\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded = json.loads(r.stderr.strip().splitlines()[-1])
    assert json.loads(r.stdout)["pages"], r.stdout[-300:]
    assert loaded == []


def test_scan_of_html_still_parses_html(tmp_path):
    f = tmp_path / "page.html"
    f.write_text("<html><body><p>Our stem cell therapy cures arthritis and reverses ageing. Guaranteed results!</p>"
                 "<script>ignored()</script></body></html>", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "auditor.cli", "scan", "-f", "json", str(f)],
                       capture_output=True, text=True, timeout=120)
    page = json.loads(r.stdout)["pages"][0]
    assert page["content_type"] == "text/html"
    assert page["findings"], page


def test_anchored_regexes_compile_only_when_a_word_can_anchor_them(monkeypatch):
    import re
    from auditor.model import Page
    from auditor.pipeline import Auditor
    monkeypatch.setattr(fastmatch, "_REGEXES", {})
    text = "Our stem cell therapy cures arthritis and reverses ageing. Guaranteed results!"
    lazy_auditor = Auditor(model=None)
    m = lazy_auditor.engine.c.main
    lazy = [p for p in m.patterns if isinstance(p[1], str)]
    assert len(lazy) > 100                       # most stay source text until needed
    before = len(fastmatch._REGEXES)
    got = lazy_auditor.engine.analyse(Page(url="x", text=text), judge=None).findings
    assert before < len(fastmatch._REGEXES) < before + len(lazy)   # the page's words compiled some
    # the same findings from a matcher whose every regex was compiled up front
    eager_auditor = Auditor(model=None)
    for matcher in (eager_auditor.engine.c.main, eager_auditor.engine.c.cond):
        matcher.patterns[:] = [(kh, re.compile(rx) if isinstance(rx, str) else rx, off)
                               for kh, rx, off in matcher.patterns]
    again = eager_auditor.engine.analyse(Page(url="x", text=text), judge=None).findings
    assert got
    assert [(f.rule, f.text, f.start, f.end) for f in got] == [(f.rule, f.text, f.start, f.end) for f in again]
