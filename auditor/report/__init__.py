"""Formatters: each takes finished reports and a text stream, nothing else (bandit-style registry).

    from auditor.report import FORMATTERS
    FORMATTERS["markdown"](reports, sys.stdout, rules)

`rules` is an optional mapping of rule id -> {rationale, references, description} so a formatter
can explain a finding without importing the engine.
"""
from __future__ import annotations

from typing import Callable, Iterable, TextIO

from ..model import SiteReport

Formatter = Callable[[Iterable[SiteReport], TextIO, dict], None]
FORMATTERS: dict[str, Formatter] = {}


def formatter(name: str):
    def deco(fn: Formatter) -> Formatter:
        FORMATTERS[name] = fn
        return fn
    return deco


from . import html, text_formats  # noqa: E402,F401  (registers the built-in formatters)
