"""Batch audits on a Dask distributed cluster (`auditor batch FILE --dask ADDRESS`, extra `auditor[dask]`).

The `auditor batch` process stays the one writer of the store: it reads the list, skips the sites
already stored (resume), and writes each site as its result streams back, exactly as the local
runner stores a site (one transaction per site). Workers only crawl and analyse: each task is
every input URL of one host, audited one after the other, so a host is never crawled by two
workers at once. A task returns plain data (the targets and their SiteReports).

Each worker process writes one WARC file per run into the run's output folder, so on a real
cluster that folder must be a path every worker can write and the client can read (a shared
file system); each site's report names the file that holds its evidence.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from ..faults import LocalFault
from .batch import Stats, Target, audit_target, store_site


class DaskMissing(RuntimeError):
    """The optional extra is not installed."""


class SchedulerUnreachable(RuntimeError):
    """No scheduler answered at the address given."""


class SchedulerLost(RuntimeError):
    """The scheduler went away during the run: the sites stored so far stay, a rerun resumes."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to audit like the client would: plain, picklable data."""
    cfg: object                         # CrawlConfig
    rules_dir: Optional[str] = None
    model: object = "bundled"           # a model path, "bundled", or None (rules only)
    select: tuple = ()
    ignore: tuple = ()
    include_text: bool = False
    extra: dict = field(default_factory=dict)
    warc_dir: Optional[str] = None      # None: no WARC (--no-warc)
    warc_info: dict = field(default_factory=dict)


def spec_for(cfg, auditor, rules_dir, model, extra: dict, out_dir) -> WorkerSpec:
    """The client's settings for its workers; paths made absolute, since workers may run elsewhere."""
    def absolute(p):
        return str(Path(p).resolve()) if p else None
    return WorkerSpec(cfg, absolute(rules_dir), model if model in (None, "bundled") else absolute(model),
                      tuple(sorted(auditor.select)), tuple(sorted(auditor.ignore)), extra=extra,
                      warc_dir=absolute(out_dir),
                      warc_info={"operator": cfg.contact, "http-header-user-agent": cfg.agent})


def host_of(url: str) -> str:
    """The host a task owns: the host name alone (ports and schemes of one machine share it)."""
    return (urlsplit(url).hostname or url).lower()


def host_groups(targets) -> list[list[Target]]:
    """Targets grouped by host, in the order each host first appears in the list."""
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(host_of(t.url), []).append(t)
    return list(groups.values())


# -- on a worker ----------------------------------------------------------------------------------
# A worker process keeps, per run, one event loop in a thread of its own with one Crawler (one
# connection pool, one per-host gate, one WARC file) and the Auditor: building a crawler costs
# about 50 ms (TLS contexts), more than crawling a small site. Worker threads hand their task's
# sites to that loop and wait, so analysis runs one site at a time per process, as in a local batch.
_RUNNERS: dict = {}
_BUILD = threading.Lock()


def _auditor(spec: WorkerSpec):
    from ..pipeline import Auditor
    return Auditor(Path(spec.rules_dir) if spec.rules_dir else None, model=spec.model,
                   select=list(spec.select), ignore=list(spec.ignore))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")[:60] or "host"


class _Runner:
    def __init__(self, spec: WorkerSpec):
        import os
        import socket

        from ..acquire.crawl import Crawler
        from ..acquire.warc import WarcLog
        from ..model import now_iso
        self.auditor = _auditor(spec)
        self.warc = None
        if spec.warc_dir and spec.cfg.warc:
            stamp = re.sub(r"[^0-9]", "", now_iso())[:14]
            path = (Path(spec.warc_dir) /
                    f"run-{spec.extra.get('run', 0)}-worker-{_slug(socket.gethostname())}-{os.getpid()}-{stamp}.warc.gz")
            try:
                self.warc = WarcLog(path, spec.warc_info)
            except OSError as e:
                raise LocalFault(e, str(path)) from e
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="auditor-crawl", daemon=True).start()

        async def make():
            return Crawler(spec.cfg, self.warc)
        self.crawler = self.submit(make())

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def audit(self, group: list[Target], spec: WorkerSpec):
        extra = {**spec.extra, "warc": str(self.warc.path)} if self.warc else dict(spec.extra)

        async def go():
            return [(t, await audit_target(self.auditor, self.crawler, t, extra, spec.include_text)) for t in group]
        return self.submit(go())


def _runner(spec: WorkerSpec) -> _Runner:
    key = (spec.extra.get("run"), repr(spec.cfg), spec.warc_dir, spec.rules_dir, str(spec.model), spec.select,
           spec.ignore)
    with _BUILD:
        if key not in _RUNNERS:
            _RUNNERS[key] = _Runner(spec)
        return _RUNNERS[key]


def audit_group(group: list[Target], spec: WorkerSpec) -> list[tuple[Target, object]]:
    """A Dask task: every site of one host, crawled in turn; [(target, SiteReport)], plain data."""
    return _runner(spec).audit(group, spec)


def _failed(auditor, t: Target, e: Exception, spec: WorkerSpec):
    """The report of a site whose task failed on the cluster, as a local batch reports a site that
    tripped a bug: an error row, not a stopped run."""
    from ..model import Error
    err = Error(t.url, f"the Dask task auditing this host failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}",
                "a worker died or the task could not run; `--fresh` or a new run audits it again")
    return auditor.audit_site(t.url, [], [err], extra={**spec.extra, "input": t.columns})


# -- on the client --------------------------------------------------------------------------------
def connect(address: str, timeout: float = 10.0):
    """A distributed Client of the scheduler at `address`, or DaskMissing / SchedulerUnreachable."""
    try:
        from distributed import Client
    except ImportError:
        raise DaskMissing("--dask needs the optional extra: pip install 'auditor[dask]'") from None
    import logging
    # distributed logs its reconnection attempts and tracebacks on stderr; the batch says one line
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        why = f"no Dask scheduler answered within {timeout:g} s" if "timed out" in reason.lower() else reason[:200]
        raise SchedulerUnreachable(f"--dask {address}: {why}; start one with `dask scheduler` and give "
                                   f"its address (tcp://HOST:8786)") from None


def run_dask(client, auditor, store, run_id: int, targets, stats: Stats, spec: WorkerSpec,
             on_site: Optional[Callable] = None, on_wait: Optional[Callable] = None):
    """Audit every target not yet in the run on the cluster; each site is committed as it returns."""
    from distributed import as_completed

    done = store.done_urls(run_id)
    todo = []
    for t in targets:
        if t.url in done:
            stats.skipped += 1
        else:
            todo.append(t)
    groups = host_groups(todo)
    if not groups:
        return
    if on_wait and not client.scheduler_info().get("workers"):
        on_wait()
    # pure=False: a rerun after a kill audits again, rather than reuse a result the cluster still holds
    futures = client.map(audit_group, groups, spec=spec, pure=False)
    group_of = {f.key: g for f, g in zip(futures, groups)}
    try:
        for fut in as_completed(futures, loop=client.loop):
            try:
                results = fut.result()      # a LocalFault on a worker (its WARC disk full) stops the run
            except LocalFault:
                raise
            except (concurrent.futures.CancelledError, asyncio.CancelledError, OSError) as e:
                why = " ".join(str(e).split())[:200]
                raise SchedulerLost(f"lost the Dask scheduler ({type(e).__name__}: {why})") from None
            except Exception as e:          # the task failed (KilledWorker: its worker died, 3 times)
                results = [(t, _failed(auditor, t, e, spec)) for t in group_of[fut.key]]
            fut.release()
            for t, rep in results:
                if t.url in done:            # a task run twice (its worker lost after it finished)
                    continue
                stats.pages += len(rep.pages)
                store_site(store, auditor, run_id, t, rep, stats, on_site)
                done.add(t.url)
    finally:
        client.cancel(futures)
