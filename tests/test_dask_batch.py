"""`auditor batch --dask` on a LocalCluster of two worker processes: the store matches a local run
of the same list, and a batch whose client is killed resumes with every site stored once."""
import csv
import gzip
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_cli, store_content
from siteserver import ManySites

distributed = pytest.importorskip("distributed", reason="the optional extra auditor[dask] is not installed "
                                                         "(pip install '.[dask]')")

N = 24


def common(delay="0"):
    return ["--allow-private", "--delay", delay, "--jitter", "0", "--max-pages", "3", "--timeout", "5",
            "--retries", "0", "--formats", "json", "-q"]


COMMON = common()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


def _write_list(path, urls):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "url"])
        for i, u in enumerate(urls):
            w.writerow([f"Clinic {i}", u])


def _urls(many):
    # two input URLs on one host (the first site's home and its /a page): one task, crawled in turn
    return [*many.urls, many.urls[0] + "a"]



def test_dask_batch_stores_what_a_local_batch_stores(tmp_path, cluster):
    with ManySites(N) as many:
        inp = tmp_path / "clinics.csv"
        _write_list(inp, _urls(many))
        t0 = time.monotonic()
        local = run_cli("batch", inp, "--output-dir", tmp_path / "local", *COMMON)
        t1 = time.monotonic()
        dask = run_cli("batch", inp, "--output-dir", tmp_path / "dask", "--dask", cluster.scheduler_address, *COMMON)
        t2 = time.monotonic()
    print(f"{N + 1} sites: local {t1 - t0:.1f} s, --dask LocalCluster(2) {t2 - t1:.1f} s")
    assert local.returncode == 3, local.stderr.decode()[-2000:]          # some fixture sites fail by design
    assert dask.returncode == 3, dask.stderr.decode()[-2000:]
    said = dask.stderr.decode().strip().splitlines()                    # no log or traceback of distributed
    assert len(said) == 1 and said[0].startswith("auditor: run 1: 25 sites (") and "failed); reports in" in said[0], said
    ls, lp, lf, _ = store_content(tmp_path / "local" / "auditor.db")
    ds, dp, df, warcs = store_content(tmp_path / "dask" / "auditor.db")
    assert len(ls) == N + 1 and len(lf) > N
    assert ds == ls
    assert dp == lp
    assert df == lf
    # each worker process wrote one WARC into the run's folder; each report names the file that
    # holds its site's records
    files = sorted((tmp_path / "dask" / "run-1").glob("*.warc.gz"))
    assert 1 <= len(files) <= 2 and all(f.name.startswith("run-1-worker-") for f in files)
    assert set(warcs) <= {str(f) for f in files}
    bodies = {str(f): gzip.decompress(f.read_bytes()) for f in files}
    con = sqlite3.connect(tmp_path / "dask" / "auditor.db")
    for url, warc in con.execute("SELECT url, json_extract(report_json, '$.warc') FROM sites"):
        assert f"WARC-Target-URI: {url}".encode() in bodies[warc], url
    con.close()
    summary = list(csv.DictReader(open(tmp_path / "dask" / "run-1" / "summary.csv", encoding="utf-8")))
    assert [r["url"] for r in summary] == _urls(many)


def _cmd(*args):
    return [sys.executable, "-m", "auditor.cli", *map(str, args)]


def _done(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM sites").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_dask_batch_resumes_after_the_client_is_killed(tmp_path, cluster):
    n = 40
    with ManySites(n) as many:
        inp = tmp_path / "clinics.csv"
        _write_list(inp, many.urls)
        out, db = tmp_path / "out", tmp_path / "out" / "auditor.db"
        args = ["batch", inp, "--output-dir", out, "--dask", cluster.scheduler_address,
                *common(delay="0.1")]
        proc = subprocess.Popen(_cmd(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while _done(db) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be killed; slow it down"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = _done(db)
        assert 5 <= killed_at < n
        r = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=300)
        err = r.stderr.decode()
        assert f"resuming run 1 ({killed_at} of {n} sites done)" in err, err[-2000:]
        assert r.returncode == 3, err[-2000:]
    con = sqlite3.connect(db)
    urls = [u for (u,) in con.execute("SELECT url FROM sites WHERE run_id=1")]
    assert sorted(urls) == sorted(many.urls)                               # every site, exactly once
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    statuses = dict(con.execute("SELECT url, status FROM sites"))
    for i, u in enumerate(many.urls):
        assert statuses[u] == ("done" if ManySites.MODES.get(i % 10, "ok") == "ok" else "failed"), u


def test_dask_without_a_scheduler_or_the_extra_is_one_line_and_exit_2(tmp_path):
    inp = tmp_path / "one.txt"
    inp.write_text("http://127.0.0.1:9/\n", encoding="utf-8")
    r = run_cli("batch", inp, "--output-dir", tmp_path / "out", "--dask", "tcp://127.0.0.1:9")
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, err
    assert err[0].startswith("auditor: --dask tcp://127.0.0.1:9: no Dask scheduler answered") and "dask scheduler" in err[0]
    assert not (tmp_path / "out" / "auditor.db").exists()
    # without the extra: a `distributed` that cannot be imported stands first on the path
    fake = tmp_path / "fake" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not installed')\n")
    import os
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run(_cmd("batch", inp, "--output-dir", tmp_path / "out", "--dask", "tcp://127.0.0.1:9"),
                       cwd=ROOT, capture_output=True, timeout=60, env=env)
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == [
        "auditor: --dask needs the optional extra: pip install 'auditor[dask]'"]


def test_host_groups_keep_each_host_in_one_task_in_list_order():
    from auditor.store.batch import Target
    from auditor.store.dask_batch import host_groups
    urls = ["http://a.example/", "http://b.example/", "https://A.example:8443/x", "http://c.example/",
            "http://b.example/y"]
    groups = host_groups([Target(i, u, u, {}) for i, u in enumerate(urls, 1)])
    assert [[t.line for t in g] for g in groups] == [[1, 3], [2, 5], [4]]
