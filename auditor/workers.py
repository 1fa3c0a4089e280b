"""Analysis on every core: a process pool whose workers each build the pipeline once.

`ordered()` runs a function over a stream of items in the pool and yields the results in input
order, keeping only a bounded window of items in flight, so a folder of a million files neither
waits for the last one nor holds them all. On Linux the workers are forked from the command's
process, which has already built its pipeline (rules, spaCy, the judge), so a worker starts in
milliseconds; elsewhere each worker builds its own in the pool's initializer.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Optional

_auditor = None          # the pipeline of this process (the parent's, inherited by a forked worker)
_factory: Optional[Callable] = None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def build(rules_dir, model, select=(), ignore=()):
    """A worker's own pipeline, when it is not forked from the command's (picklable, no click)."""
    from pathlib import Path
    from .pipeline import Auditor
    return Auditor(Path(rules_dir) if rules_dir else None, model=model, select=select, ignore=ignore)


def _die_with(parent: int):
    """End this worker when the command's process dies, even by SIGKILL: an orphaned worker would
    keep the command's stdout/stderr pipes and its store lock open, so a caller reading its output
    would hang and a resume would find the store busy."""
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)               # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):              # not Linux: the pool's own shutdown is all
        return
    if os.getppid() != parent:                      # died before the line above took effect
        os._exit(1)


def _init(factory, parent=None):
    global _auditor
    if parent is not None:
        _die_with(parent)
    if _auditor is None:
        _auditor = factory()


def _call(fn, item):
    return fn(_auditor, item)


class Pool:
    """`workers` processes running fn(auditor, item); with one worker, everything runs here."""

    def __init__(self, auditor, factory: Callable, workers: int):
        self.auditor, self.factory, self.workers = auditor, factory, max(1, workers)
        self._ex: Optional[ProcessPoolExecutor] = None

    def _executor(self) -> ProcessPoolExecutor:
        global _auditor
        if self._ex is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            _auditor = self.auditor if ctx.get_start_method() == "fork" else None
            self._ex = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init,
                                           initargs=(self.factory, os.getpid()))
        return self._ex

    def ordered(self, fn: Callable, items: Iterable, local: Callable = lambda item: False) -> Iterator:
        """(item, result) for each item, in input order. An item for which local(item) is true is
        not sent to the pool: it is yielded as (item, None) for the caller to handle here, once every
        item before it has been yielded."""
        if self.workers == 1:
            for item in items:
                yield item, (None if local(item) else fn(self.auditor, item))
            return
        window: deque = deque()
        limit = 4 * self.workers
        try:
            for item in items:
                if local(item):
                    while window:
                        it, fut = window.popleft()
                        yield it, fut.result()
                    yield item, None
                    continue
                window.append((item, self._executor().submit(_call, fn, item)))
                if len(window) >= limit:
                    it, fut = window.popleft()
                    yield it, fut.result()
            while window:
                it, fut = window.popleft()
                yield it, fut.result()
        finally:
            for _, fut in window:
                fut.cancel()

    def close(self):
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=True)
            self._ex = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
