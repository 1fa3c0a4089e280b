"""Faults: a bug met on one input, a second writer on one store, a full disk.

Each runs the real CLI in a subprocess. The "bug" is injected into that subprocess (a wrapper
that makes the extractor raise on pages holding a marker), so the test keeps testing the run's
isolation after the bugs we know of are fixed; the full disk is a real one (a small tmpfs when
the test may mount one, else a file-size limit, which the kernel enforces the same way).
"""
import csv
import errno
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time


from conftest import ROOT
from siteserver import FixtureServer, ManySites, page

MARKER = "TRIP-A-BUG"
# the CLI, with the extractor made to raise RecursionError on any page holding MARKER (as the
# 1,000-nested-div page did, in every later input of `scan` and on every resume of `batch`)
BUGGY = f"""
import sys, auditor.pipeline as p
_extract = p.extract
def extract(doc):
    body = doc.text if doc.text is not None else doc.content.decode("utf-8", "replace")
    if {MARKER!r} in body:
        raise RecursionError("maximum recursion depth exceeded (injected)")
    return _extract(doc)
p.extract = extract
from auditor.cli import main
sys.argv[0] = "auditor"
main()
"""


def _buggy(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-c", BUGGY, *map(str, args)], capture_output=True, cwd=ROOT,
                          timeout=timeout, **kw)


def _cmd(*args):
    return [sys.executable, "-m", "auditor.cli", *map(str, args)]


def test_a_bug_on_one_input_is_its_error_report_and_scan_goes_on(tmp_path):
    good1, bad, good2 = tmp_path / "a.txt", tmp_path / "b.html", tmp_path / "c.txt"
    good1.write_text("Satisfaction guaranteed.", encoding="utf-8")
    bad.write_text(f"<p>{MARKER} We guarantee results.</p>", encoding="utf-8")
    good2.write_text("Our exosome therapy is FDA approved.", encoding="utf-8")
    deep = tmp_path / "deep.html"        # the real case: 1,000 nested divs
    deep.write_text("<div>" * 1000 + "<p>Satisfaction guaranteed.</p>" + "</div>" * 1000, encoding="utf-8")
    r = _buggy("scan", "--format", "jsonl", good1, bad, deep, good2)
    err = r.stderr.decode()
    assert "Traceback" not in err, err[-2000:]
    assert r.returncode == 2, err
    reps = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [rep["target"] for rep in reps] == [str(good1), str(bad), str(deep), str(good2)]
    assert reps[1]["score"] is None and reps[1]["errors"][0]["reason"].startswith("internal error: RecursionError")
    assert f"auditor: {bad}: internal error: RecursionError" in err
    assert reps[0]["pages"][0]["findings"] and reps[3]["pages"][0]["findings"]       # before and after it
    assert reps[2]["pages"] or reps[2]["errors"][0]["reason"].startswith("internal error")


def test_a_bug_on_one_site_is_its_error_row_and_resume_goes_past_it(tmp_path):
    with FixtureServer() as server:
        server.site.pages["/trip"] = page("Trip", f"<p>{MARKER}: we guarantee results.</p>")
        urls = [server.url + "/treatments", server.url + "/trip", server.url + "/pricing"]
        inp = tmp_path / "list.txt"
        inp.write_text("\n".join(urls) + "\n", encoding="utf-8")
        out = tmp_path / "out"
        args = ["batch", inp, "--allow-private", "--output-dir", out, "--delay", "0", "--jitter", "0",
                "--max-pages", "1", "--formats", "json", "-q"]
        r = _buggy(*args)
        assert "Traceback" not in r.stderr.decode(), r.stderr.decode()[-2000:]
        assert r.returncode == 3, r.stderr.decode()
        con = sqlite3.connect(out / "auditor.db")
        rows = dict(con.execute("SELECT url, status || ': ' || COALESCE(error, '') FROM sites").fetchall())
        con.close()
        assert rows[urls[0]].startswith("done") and rows[urls[2]].startswith("done"), rows
        assert rows[urls[1]].startswith("failed: internal error: RecursionError"), rows
        summary = list(csv.DictReader(open(out / "run-1" / "summary.csv", encoding="utf-8")))
        assert [s["url"] for s in summary] == urls and summary[1]["error"].startswith("internal error")
        again = _buggy(*args)                         # a resume does not die at that site either
        assert again.returncode == 3 and "resuming run 1 (3 of 3 sites done)" in again.stderr.decode()
        # audit: the other site is reported, the broken one carries its error
        a = _buggy("audit", "--allow-private", "--format", "json", "--output-dir", out, "--delay", "0",
                   "--jitter", "0", "--max-pages", "1", "-q", urls[0], urls[1])
        assert a.returncode == 3 and "Traceback" not in a.stderr.decode(), a.stderr.decode()[-2000:]
        reps = json.loads(a.stdout)
        assert reps[0]["score"] > 0 and reps[1]["score"] is None
        assert reps[1]["errors"][0]["reason"].startswith("internal error: RecursionError")


def _started(lock: os.PathLike, proc, deadline: float) -> dict:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            data = json.loads(open(lock, encoding="utf-8").read() or "{}")
            if data.get("pid") == proc.pid:
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("the first batch never took the store's lock")


def _sites(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM sites").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_a_second_batch_on_one_store_exits_2_at_once_naming_the_first(tmp_path):
    with ManySites(20) as many:
        inp = tmp_path / "list.txt"
        inp.write_text("\n".join(many.urls) + "\n", encoding="utf-8")
        out = tmp_path / "out"
        args = ["batch", inp, "--output-dir", out, "--delay", "0.5", "--jitter", "0", "--max-pages", "3",
                "--concurrency", "2", "--retries", "0", "--timeout", "3", "--formats", "json", "-q", "--allow-private"]
        first = subprocess.Popen(_cmd(*args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            holder = _started(out / "auditor.db.lock", first, time.monotonic() + 60)
            deadline = time.monotonic() + 60
            while _sites(out / "auditor.db") < 1 and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.1)                        # the first run is crawling: a site is stored
            t0 = time.monotonic()
            second = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=60)
            took = time.monotonic() - t0
            err = second.stderr.decode()
            assert first.poll() is None, "the first batch ended before the second started; slow it down"
            assert second.returncode == 2, err[-2000:]
            assert err.count("\n") == 1 and "Traceback" not in err
            assert f"is in use by another auditor batch (pid {first.pid} on {socket.gethostname()}, " \
                   f"started {holder['started']}" in err, err
            assert took < 10, took                   # at once: before spaCy loads, before any request
            # the same store through --db, from another output folder, is the same store
            third = subprocess.run(_cmd(*args[:2], "--output-dir", tmp_path / "other", "--db", out / "auditor.db",
                                        *args[4:]), cwd=ROOT, capture_output=True, timeout=60)
            assert third.returncode == 2 and f"pid {first.pid}" in third.stderr.decode()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        # the kernel dropped the lock with its holder: the next run resumes and finishes the list
        r = subprocess.run(_cmd(*args[:4], "--delay", "0", *args[6:]), cwd=ROOT, capture_output=True, timeout=300)
        assert r.returncode == 3, r.stderr.decode()[-2000:]             # some sites fail by design
        assert "resuming run 1" in r.stderr.decode()
    con = sqlite3.connect(out / "auditor.db")
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT url) FROM sites").fetchone() == (20, 20)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_an_audit_while_the_store_is_locked_prints_its_report_unrecorded(tmp_path):
    """audit takes the store's lock only to check the store and to write its run: held by another
    run (this test plays a batch), the report is still printed, with one line saying it was not
    recorded, and the exit code is the audit's; a batch refused by an audit names the audit."""
    from auditor.store.lock import StoreLock
    out = tmp_path / "out"
    db = out / "auditor.db"
    with FixtureServer() as server:
        url = server.url + "/"
        args = ["audit", "--allow-private", "--output-dir", out, "--delay", "0", "--jitter", "0", "--retries", "0",
                "--only-url", "--format", "json", url]
        with StoreLock(db, kind="batch"):
            locked = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=120)
        err = locked.stderr.decode()
        assert locked.returncode == 0, err[-2000:]
        assert json.loads(locked.stdout)["score"] is not None                   # the report, whole
        note = [ln for ln in err.splitlines() if "not recorded" in ln]
        assert note == [f"auditor: {db} is in use by another auditor batch (pid {os.getpid()} on "
                        f"{socket.gethostname()}, started " + note[0].split(", started ", 1)[1]], err
        assert note[0].endswith("; this audit is not recorded in the store (the report follows)")
        assert "Traceback" not in err and not db.exists()
        # free again: the audit is recorded, and history reads it
        free = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=120)
        assert free.returncode == 0 and "auditor: recorded as run 1 in " in free.stderr.decode()
        con = sqlite3.connect(db)
        assert con.execute("SELECT kind, COUNT(*) FROM runs GROUP BY kind").fetchall() == [("audit", 1)]
        con.close()
    inp = tmp_path / "list.txt"
    inp.write_text(url + "\n", encoding="utf-8")
    with StoreLock(db, kind="audit"):                 # an audit writing its run
        r = subprocess.run(_cmd("batch", inp, "--allow-private", "--output-dir", out), cwd=ROOT, capture_output=True, timeout=60)
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1
    assert f"is in use by another auditor audit (pid {os.getpid()} on " in r.stderr.decode()


def test_store_lock_waits_for_a_short_holder_and_names_a_long_one(tmp_path):
    import threading

    import pytest
    from auditor.store.lock import StoreBusy, StoreLock
    db = tmp_path / "auditor.db"
    first = StoreLock(db, kind="audit").acquire()
    threading.Timer(0.3, first.release).start()
    t0 = time.monotonic()
    second = StoreLock(db, kind="audit").acquire(wait=5)       # as an audit's write waits for another's
    assert 0.2 < time.monotonic() - t0 < 5
    with pytest.raises(StoreBusy, match=r"in use by another auditor audit \(pid \d+ on "):
        StoreLock(db).acquire(wait=0.2)
    second.release()
    StoreLock(db).acquire().release()


# -- a full disk ---------------------------------------------------------------------------------
def _small_disk(path, size_kb: int):
    """Mount a tmpfs of size_kb on path: (True, remount) or (False, None) when not permitted."""
    path.mkdir()
    if os.geteuid() != 0:
        return False, None
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        return False, None

    def grow():
        subprocess.run(["mount", "-o", "remount,size=20m", str(path)], check=True)
    return True, grow


def _file_size_limit(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_a_full_disk_stops_the_run_and_a_resume_audits_what_was_left(tmp_path):
    disk = tmp_path / "disk"
    mounted, grow = _small_disk(disk, 40)
    try:
        with ManySites(30) as many:
            inp = tmp_path / "list.txt"
            inp.write_text("\n".join(many.urls) + "\n", encoding="utf-8")
            args = ["batch", inp, "--allow-private", "--output-dir", disk, "--db", tmp_path / "auditor.db",
                    "--delay", "0", "--jitter", "0", "--max-pages", "3", "--retries", "0", "--timeout", "3",
                    "--formats", "json", "-q"]
            limit = {} if mounted else {"preexec_fn": _file_size_limit(40_000)}
            r = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=300, **limit)
            err = r.stderr.decode()
            assert r.returncode == 2, err[-2000:]
            assert "Traceback" not in err and err.count("\n") == 1, err
            why = "No space left on device" if mounted else "too large"
            assert f"auditor: stopped: {why}" in err or (not mounted and "disk is full" in err), err
            assert "run the same command again to resume" in err
            con = sqlite3.connect(tmp_path / "auditor.db")
            saved = con.execute("SELECT COUNT(*) FROM sites").fetchone()[0]
            stored_errors = [e for (e,) in con.execute("SELECT error FROM sites WHERE error IS NOT NULL")]
            con.close()
            assert saved < 30
            assert not any("No space" in e or "internal error" in e or "too large" in e for e in stored_errors)
            # with room again, the same command resumes and audits every site left
            if mounted:
                grow()
            r = subprocess.run(_cmd(*args), cwd=ROOT, capture_output=True, timeout=300)
            assert r.returncode == 3, r.stderr.decode()[-2000:]           # some sites fail by design
            assert f"resuming run 1 ({saved} of 30 sites done)" in r.stderr.decode()
        con = sqlite3.connect(tmp_path / "auditor.db")
        rows = dict(con.execute("SELECT url, status FROM sites").fetchall())
        assert len(rows) == 30
        for i, u in enumerate(many.urls):
            assert rows[u] == ("done" if ManySites.MODES.get(i % 10, "ok") == "ok" else "failed"), (i, u, rows[u])
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)])


def test_local_and_remote_faults_are_told_apart():
    import httpx
    from auditor.faults import is_local
    assert is_local(OSError(errno.ENOSPC, "No space left on device"))
    assert is_local(PermissionError(errno.EACCES, "Permission denied"))
    assert is_local(OSError(errno.EROFS, "Read-only file system"))
    assert is_local(sqlite3.OperationalError("database or disk is full"))
    assert not is_local(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert not is_local(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
    assert not is_local(httpx.ConnectError("All connection attempts failed"))
    assert not is_local(sqlite3.IntegrityError("UNIQUE constraint failed"))
