"""WARC files as input (issue 10, item 12): a cut file is reported, not taken as complete; records
obey --max-size; the several WARC files of a resumed batch give each site once, from its finished
copy. The archives are written by the real crawler from servers on 127.0.0.1."""
import asyncio
import json
import subprocess
import sys
import threading

from warcio.archiveiterator import ArchiveIterator

from auditor.acquire.crawl import Crawler
from auditor.acquire.warc import WarcLog, read_sites
from auditor.config import CrawlConfig
from conftest import ROOT, run_cli
from hostile import Routes, html

CFG = CrawlConfig(delay=0, jitter=0, timeout=20, request_timeout=5, connect_timeout=2, read_timeout=5, retries=0,
                  max_pages=5, allow_private=True, contact="https://example.org/tests")


def _site(name: str, release: threading.Event = None, version: list = None):
    """A start page linking two pages; /b waits until `release` is set (a crawl to kill part-way)."""
    def start(h):
        h.send(200, html(f"<h1>{name}</h1><p>Satisfaction guaranteed.</p><a href='/a'>treatments</a> "
                         f"<a href='/b'>faq</a>"))

    def b(h):
        if release is not None:
            release.wait(10)
        claim = "Our exosome therapy is FDA approved." if not version or version[0] == 1 else "A new page."
        h.send(200, html(f"<p>{claim}</p>"))
    return {"/": start, "/a": lambda h: h.send(200, html("<p>Stem cells regenerate cartilage.</p>")), "/b": b}


def _crawl_into(path, *urls, bound=None):
    async def go():
        warc = WarcLog(path)
        c = Crawler(CFG, warc)
        try:
            for u in urls:
                try:
                    await asyncio.wait_for(c.crawl_site(u), bound or 30)
                except asyncio.TimeoutError:
                    pass                   # as if the process had been killed mid-site
        finally:
            await c.aclose()
            warc.close()
    asyncio.run(go())


def _scan(*args):
    r = run_cli("scan", "-f", "jsonl", *args)
    return r, [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_a_truncated_warc_is_reported_and_its_cut_site_is_incomplete(tmp_path):
    with Routes(_site("A")) as a, Routes(_site("B")) as b:
        warc = tmp_path / "audit.warc.gz"
        _crawl_into(warc, a.url + "/", b.url + "/")
    with open(warc, "rb") as fh:            # cut inside B's last page record (the end record goes too)
        it = ArchiveIterator(fh)
        offsets = [(rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"), it.get_record_offset())
                   for rec in it]
    cut = [o for t, u, o in offsets if t == "response" and u == b.url + "/b"][0] + 300
    (tmp_path / "cut.warc.gz").write_bytes(warc.read_bytes()[:cut])
    r, reps = _scan(tmp_path / "cut.warc.gz")
    assert r.returncode == 2
    assert "truncated or corrupt: the file ends inside a record" in r.stderr.decode()
    by_target = {rep["target"]: rep for rep in reps}
    assert by_target[a.url + "/"]["errors"] == [] and len(by_target[a.url + "/"]["pages"]) == 3
    cut_site = by_target[b.url + "/"]
    assert [p["url"] for p in cut_site["pages"]] == [b.url + "/", b.url + "/a"]
    assert any(e["reason"].startswith("incomplete in ") for e in cut_site["errors"])
    # the whole file: every site complete
    assert [(len(docs), errors) for _, docs, errors in read_sites(warc)] == [(3, []), (3, [])]


_CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
from auditor.cli import main
for warc, out in zip(sys.argv[1::2], sys.argv[2::2]):      # a small file first: the baseline
    try:
        main(["scan", "-f", "jsonl", "--max-size", "10MB", "-o", out, warc], standalone_mode=False)
    except SystemExit:
        pass
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def test_warc_records_obey_max_size(tmp_path):
    """A 100 MB record is reported as too large without being read; memory stays at a small
    file's level."""
    small, big = tmp_path / "small.warc.gz", tmp_path / "big.warc.gz"
    for path, size in ((small, 1000), (big, 100 << 20)):
        w = WarcLog(path)
        body = b"<html><body><p>" + b"Satisfaction guaranteed. " * (size // 25) + b"</p></body></html>"
        rid = w.response("http://clinic.test/", 200, "OK", [("Content-Type", "text/html")], body,
                         "2026-01-01T00:00:00Z", target="http://clinic.test/", audited=True)
        w.site_end("http://clinic.test/", "http://clinic.test/", [rid], [])
        w.close()
        del body
    r = subprocess.run([sys.executable, "-c", _CHILD, small, tmp_path / "small.jsonl", big, tmp_path / "big.jsonl"],
                       capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    base, peak = map(float, r.stdout.decode().split()[-2:])
    rep = json.loads((tmp_path / "big.jsonl").read_text(encoding="utf-8"))
    assert rep["pages"] == []
    assert rep["errors"][0]["reason"] == ("archived body larger than the 10,485,760-byte limit (--max-size); "
                                          "not audited")
    assert peak - base < 100, f"peak {peak:.0f} MB against {base:.0f} MB for a small file"


def test_the_warcs_of_a_resumed_batch_give_each_site_once(tmp_path):
    """Run 1 finishes A, is killed while crawling B, and finishes C's crawl but not its commit (so
    the resume crawls C again, changed); the resume writes a second file with B and C. Scanning the
    run's folder gives A, B and C once each, from their finished copies."""
    release, version = threading.Event(), [1]
    run = tmp_path / "out" / "run-1"
    run.mkdir(parents=True)
    first, second = run / "run-1-20260101T000000Z.warc.gz", run / "run-1-20260101T000500Z.warc.gz"
    with Routes(_site("A")) as a, Routes(_site("B", release)) as b, Routes(_site("C", version=version)) as c:
        _crawl_into(first, a.url + "/", b.url + "/", bound=0.8)      # B is "killed" waiting for /b
        _crawl_into(first, c.url + "/")
        release.set()
        version[0] = 2
        _crawl_into(second, b.url + "/", c.url + "/")
    r, reps = _scan(run)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(rep["target"] for rep in reps) == sorted([a.url + "/", b.url + "/", c.url + "/"])
    by_target = {rep["target"]: rep for rep in reps}
    for site in (a, b, c):
        rep = by_target[site.url + "/"]
        assert rep["errors"] == [] and len(rep["pages"]) == 3, rep["errors"]
    c_text = [f["text"] for p in by_target[c.url + "/"]["pages"] for f in p["findings"]]
    assert "FDA approved" not in " ".join(c_text)                    # C from its later, finished copy
    # the first file alone: B's killed copy is incomplete, not complete
    docs, errors = next((docs, errors) for target, docs, errors in read_sites(first) if target == b.url + "/")
    assert [d.url for d in docs] == [b.url + "/", b.url + "/a"]
    assert errors[0].reason.startswith("incomplete in ") and "stopped before it finished" in errors[0].reason
