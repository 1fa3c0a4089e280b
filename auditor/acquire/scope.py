"""Crawl scope from the user: --include / --exclude URL regexes, as wget's --accept-regex /
--reject-regex and Scrapy's LinkExtractor allow / deny. Matched with re.search on the whole
normalised URL; the start page is always audited, the patterns choose which links are followed."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional


@lru_cache(maxsize=64)
def _compiled(patterns: tuple) -> tuple:
    return tuple(re.compile(p) for p in patterns)


def scope_reason(url: str, include: tuple = (), exclude: tuple = ()) -> Optional[str]:
    """Why a URL is out of the user's scope, or None."""
    for rx in _compiled(tuple(exclude)):
        if rx.search(url):
            return f"excluded by --exclude {rx.pattern!r}"
    if include and not any(rx.search(url) for rx in _compiled(tuple(include))):
        return "matches no --include pattern"
    return None
