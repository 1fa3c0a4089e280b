"""batch --workers: the analysis in a process pool stores exactly what one process stores."""
import csv
import json

from conftest import run_cli, store_content
from siteserver import ManySites

N = 40
COMMON = ["--allow-private", "--delay", "0", "--jitter", "0", "--max-pages", "3", "--timeout", "5",
          "--retries", "0", "--formats", "json", "-q", "--concurrency", "8"]



def test_batch_with_two_workers_stores_what_one_worker_stores(tmp_path):
    with ManySites(N) as many:
        inp = tmp_path / "clinics.csv"
        with open(inp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "url"])
            for i, u in enumerate(many.urls):
                w.writerow([f"Clinic {i}", u])
        one = run_cli("batch", inp, "--output-dir", tmp_path / "one", "--workers", "1", *COMMON)
        two = run_cli("batch", inp, "--output-dir", tmp_path / "two", "--workers", "2", *COMMON)
    assert one.returncode == 3, one.stderr.decode()[-2000:]          # some fixture sites fail by design
    assert two.returncode == 3, two.stderr.decode()[-2000:]
    a, b = store_content(tmp_path / "one" / "auditor.db")[:3], store_content(tmp_path / "two" / "auditor.db")[:3]
    assert len(a[0]) == N and a[2], "the fixture should give sites and findings"
    assert a == b


def _timeless(value):
    """A parsed report without the times of the run and the names of its WARC files."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items()
                if k not in ("warc", "warc_record_id", "audited_at", "fetched_at", "seconds")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_audit_with_two_workers_reports_what_one_worker_reports(tmp_path):
    with ManySites(6) as many:
        args = ["audit", *many.urls, *COMMON[:11], "-q", "--format", "json"]
        one = run_cli(*args, "--output-dir", tmp_path / "one", "--workers", "1")
        two = run_cli(*args, "--output-dir", tmp_path / "two", "--workers", "2")
    assert one.returncode == 3, one.stderr.decode()[-2000:]          # sites 3 and 5 fail by design
    assert two.returncode == 3, two.stderr.decode()[-2000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert any(p["findings"] for r in a for p in r["pages"]), "the fixture should give findings"
    assert [r["target"] for r in a] == many.urls
    assert _timeless(a) == _timeless(b)
