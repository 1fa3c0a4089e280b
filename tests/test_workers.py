"""`scan --workers N`: files analysed in a process pool give the same output, in the same order,
as one process; input errors keep their place."""
import json
import re

from conftest import ROOT, SHARED, run_cli

STAMP = re.compile(rb'"audited_at": "[^"]*"')


def _folder(tmp_path):
    d = tmp_path / "pages"
    (d / "sub").mkdir(parents=True)
    sources = sorted((ROOT / "samples").glob("*")) + sorted((SHARED / "samples").glob("*.txt"))
    assert sources
    for i in range(40):                      # more files than the pool's window of 4 per worker
        src = sources[i % len(sources)]
        (d / ("sub" if i % 3 else ".") / f"{i:03}{src.suffix}").write_bytes(src.read_bytes())
    (d / "017-bad.txt").write_bytes(b"caf\xe9 stem cells cure everything\n")     # not UTF-8: an input error
    return d


def _scan(workers, *paths):
    r = run_cli("scan", "--workers", str(workers), "-f", "jsonl", *paths)
    return r, STAMP.sub(b'"audited_at": ""', r.stdout)


def test_two_workers_write_what_one_writes(tmp_path):
    d = _folder(tmp_path)
    one, out1 = _scan(1, d, ROOT / "samples" / "clinic-renewal.html")
    two, out2 = _scan(2, d, ROOT / "samples" / "clinic-renewal.html")
    assert one.returncode == two.returncode == 2          # the bad file is an input error
    assert out1 == out2                                   # byte for byte, the time stamps aside
    assert one.stderr == two.stderr
    reports = [json.loads(line) for line in out1.splitlines()]
    assert len(reports) == 42
    targets = [r["target"] for r in reports]
    assert targets[-1].endswith("clinic-renewal.html")
    assert any("017-bad.txt" in t for t in targets) and any(r["errors"] for r in reports)
    assert sum(len(p["findings"]) for r in reports for p in r["pages"]) > 0


def test_workers_must_be_positive(tmp_path):
    r = run_cli("scan", "--workers", "0", ROOT / "samples")
    assert r.returncode == 2
    assert b"--workers" in r.stderr
