"""Long pages are analysed in segments: offsets stay true, claims match the short page's,
and `auditor scan` of a multi-megabyte page stays within a bounded peak RSS."""
import subprocess
import sys

from conftest import ROOT

from auditor.analyse import segments
from auditor.model import Page

PAGE = ("Welcome to Renew Regenerative Clinic. We offer stem cell therapy for autism, Parkinson's disease, "
        "multiple sclerosis, ALS, COPD, diabetes and heart failure.\n\n"
        "Our stem cell treatment cures arthritis and reverses ageing, with a 95% success rate.\n\n"
        "Our exosome therapy repairs damaged nerves and regenerates cartilage without surgery.\n\n"
        "Book your consultation today: treatment packages start at $5,000, financing available.\n\n")


def _claims(an):
    return {(f.rule, f.category, f.text) for f in an.findings if f.start is not None}


def test_long_page_offsets_index_the_text_and_claims_match_the_short_page(auditor):
    short = auditor.engine.analyse(Page("u", PAGE))
    assert _claims(short), "the sample page must make claims"
    text = PAGE * (2 * segments.SEGMENT_CHARS // len(PAGE) + 3)
    assert len(segments.cuts(Page("u", text))) >= 3
    long = auditor.engine.analyse(Page("u", text))
    for f in long.findings:
        if f.start is not None:
            assert text[f.start:f.end] == f.text
    for s in long.suppressed:
        if s.start is not None:
            assert text[s.start:s.end] == s.text
    for m in long.mitigations:
        assert text[m.start:m.end] == m.text
    assert _claims(long) == _claims(short)
    per_copy = sum(1 for f in short.findings if f.start is not None)
    assert sum(1 for f in long.findings if f.start is not None) == per_copy * (len(text) // len(PAGE))
    page_level = [f.rule for f in long.findings if f.start is None]
    assert sorted(page_level) == sorted(f.rule for f in short.findings if f.start is None)


def test_cuts_cover_the_text_at_paragraph_breaks():
    text = ("word " * 30 + "\n\n") * 5000
    cs = segments.cuts(Page("u", text), size=10_000)
    assert cs[0][0] == 0 and cs[-1][1] == len(text)
    assert all(a == pb for (_, pb), (a, _) in zip(cs, cs[1:]))
    assert all(b - a <= 10_000 for a, b in cs)
    assert all(text[a - 2:a] == "\n\n" for a, _ in cs[1:])


def test_scan_of_a_long_page_has_bounded_peak_rss(tmp_path):
    # 2 MB (747 MB peak before segments); the 10 MB aim of issue 12 is not met yet: see bench/run.py
    size = 2 * 2 ** 20
    p = tmp_path / "big.txt"
    p.write_text((PAGE * (size // len(PAGE) + 1))[:size], encoding="utf-8")
    # measured in a fresh process: RUSAGE_CHILDREN of pytest itself holds the suite's earlier children
    probe = ("import resource, subprocess, sys; "
             "r = subprocess.run(sys.argv[1:], capture_output=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.stderr.write(r.stderr.decode()[-500:])")
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "auditor.cli", "scan", "-f", "json",
                        "-o", str(tmp_path / "o.json"), str(p)], capture_output=True, cwd=ROOT, timeout=300, text=True)
    rc, kb = map(int, r.stdout.split())
    assert rc in (0, 1), r.stderr
    assert (tmp_path / "o.json").stat().st_size > 0
    assert kb / 1024 < 300, f"peak RSS {kb / 1024:.0f} MB"
