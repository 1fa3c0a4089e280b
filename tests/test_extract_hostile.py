"""Pages and files that used to break or fool extraction (issue 10, items 7 and 18): deep nesting,
UTF-16 files, HTML under an unknown extension, text hidden by the page's own CSS rules."""
import json
import subprocess
import sys
import time

import pytest

from auditor.acquire.extract import extract
from auditor.model import Document
from conftest import ROOT, run_cli
from hostile import Routes, html


def _nested(n: int) -> str:
    return ("<html><body>" + "<div>" * n + "<p>Deep text: satisfaction guaranteed.</p>" + "</div>" * n
            + "<p>After the nest.</p></body></html>")


@pytest.mark.parametrize("n", [1_000, 5_000])
def test_deeply_nested_divs_are_extracted(n):
    page = extract(Document(target="x", url="x", content_type="text/html", text=_nested(n)))
    assert page.text == "Deep text: satisfaction guaranteed.\n\nAfter the nest."


_DEEP = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from auditor.acquire.extract import extract
from auditor.model import Document
n = int(sys.argv[1])
html = "<html><body>" + "<div>" * n + "<p>Deep text.</p>" + "</div>" * n + "<p>After the nest.</p></body></html>"
print(extract(Document(target="x", url="x", content_type="text/html", text=html)).text)
"""


def test_100000_nested_divs():
    """BeautifulSoup (lxml) builds the tree without recursion too; a child process bounds time and
    memory."""
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-c", _DEEP, "100000"], capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode() == "Deep text.\n\nAfter the nest.\n"
    assert time.monotonic() - t < 30


def test_a_deeply_nested_site_is_audited_in_a_batch(tmp_path):
    with Routes({"/": lambda h: h.send(200, _nested(3_000).encode())}) as srv:
        inp = tmp_path / "list.txt"
        inp.write_text(srv.url + "/\n", encoding="utf-8")
        r = run_cli("batch", inp, "--allow-private", "--delay", "0", "--jitter", "0", "--output-dir", tmp_path / "out",
                    "--formats", "json", "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    line = json.loads((tmp_path / "out" / "run-1" / "summary.jsonl").read_text(encoding="utf-8"))
    assert line["error"] is None and line["counts"].get("guarantee") == 1


def test_utf16_files_with_a_bom_are_decoded_and_html_under_other_extensions_is_sniffed(tmp_path):
    files = []
    for enc in ("utf-16-le", "utf-16-be"):
        f = tmp_path / f"notes-{enc}.txt"
        f.write_bytes("\ufeffSatisfaction guaranteed at our clínica.".encode(enc))
        files.append(f)
    php = tmp_path / "index.php"
    php.write_text("<!DOCTYPE html><html><head><title>Clinic</title><script>var claim = 'Satisfaction guaranteed';"
                   "</script></head><body><p>Our exosome therapy is FDA approved.</p></body></html>", encoding="utf-8")
    r = run_cli("scan", "-f", "jsonl", "--include-text", *files, php)
    assert r.returncode == 0, r.stderr.decode()
    reps = [json.loads(line) for line in r.stdout.decode().splitlines()]
    for rep in reps[:2]:
        page = rep["pages"][0]
        assert page["text"] == "Satisfaction guaranteed at our clínica."
        assert page["findings"][0]["category"] == "guarantee"
    page = reps[2]["pages"][0]
    assert page["content_type"] == "text/html"
    assert page["text"] == "Clinic\n\nOur exosome therapy is FDA approved."        # no script text
    assert {x["category"] for x in page["findings"]} == {"fda-misstatement"}


def test_text_hidden_by_simple_css_rules_is_left_out():
    doc = html("<p class='seo x'>Stem cells cure everything, guaranteed.</p>"
               "<div id='y'><p>Miracle results for every patient.</p></div>"
               "<p class='z'>Shown on screens.</p>"
               "<p class='m'>Hidden on phones only.</p>"
               "<p class='x' style='display:block'>Shown: the inline style wins.</p>"
               "<p class='w'>Shown: a later rule shows it.</p>"
               "<p>Plain text.</p>",
               head="<style>/* .never{display:none} */ .x { color: red; display : none }"
                    " #y{visibility:hidden} .w{display:none} .w{display:block}"
                    " @media (max-width: 600px) { .m { display: none } }</style>"
                    "<style media='print'>.z{display:none}</style>")
    page = extract(Document(target="x", url="x", content_type="text/html", text=doc.decode()))
    assert page.text.split("\n\n") == ["Shown on screens.", "Hidden on phones only.", "Shown: the inline style wins.",
                                       "Shown: a later rule shows it.", "Plain text."]
