"""URLs for the crawler: normalisation, same-site judgement, traps and which links to prefer.

Same-site is judged by registrable domain (www.clinic.com and book.clinic.com are one site) using
the public suffix list bundled with `publicsuffixlist`, so nothing is fetched at import.

URLs are made ASCII once, as browsers do (w3lib's `safe_url_string`: IDNA host, UTF-8
percent-encoding, existing escapes kept), and numeric hosts are read as the WHATWG URL standard
reads them (`http://2130706433/` and `http://0177.0.0.1/` are 127.0.0.1), so every later step
(fetch, WARC, same-site and address checks) sees one spelling of each URL.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList
from w3lib.url import canonicalize_url, safe_url_string

_PSL = PublicSuffixList()
SESSION_PARAMS = re.compile(r"^(?:jsessionid|phpsessid|sessionid|session_id|sid|aspsessionid\w*|cfid|cftoken|"
                            r"utm_\w+|fbclid|gclid|mc_cid|mc_eid|_ga|ref|replytocom)$", re.I)
SKIP_EXTENSIONS = re.compile(r"\.(?:pdf|jpe?g|png|gif|webp|svg|ico|bmp|tiff?|mp[34]|m4v|mov|avi|wmv|webm|ogg|wav|"
                             r"zip|gz|tgz|rar|7z|exe|dmg|msi|docx?|xlsx?|pptx?|csv|xml|json|css|js|woff2?|ttf|eot)$",
                             re.I)
CALENDAR = re.compile(r"(?:/|^)(?:calendar|events?|agenda)(?:/|$)|/(?:19|20)\d\d/(?:0?[1-9]|1[0-2])(?:/|$)|"
                      r"[?&](?:date|month|year|day|week|cal\w*)=", re.I)
PREFER = re.compile(r"treat|therap|condition|disease|service|procedure|stem|cell|regenerat|exosome|prp|"
                    r"faq|question|about|pric|cost|fee|package|testimonial|review|stor(?:y|ies)|result|"
                    r"success|patient|before-after|knee|back|joint|spine", re.I)


def normalise(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL without fragment, default port, session ids or tracking parameters,
    in ASCII (percent-encoded UTF-8, punycode host) and with a canonical IP host.

    None for anything that is not a web page to fetch (mailto:, javascript:, tel:, data: ...) or
    that no browser would fetch (a malformed numeric host, a bad port).
    """
    url = (url or "").strip()
    if not url:
        return None
    try:
        absu = urljoin(base, url) if base else url
        absu = safe_url_string(absu)
        parts = urlsplit(absu)
    except (ValueError, UnicodeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        return None
    host = canonical_host(host)
    if host is None:
        return None
    default = port in (None, 80 if scheme == "http" else 443)
    if ":" in host:
        netloc = f"[{host}]" + ("" if default else f":{port}")
    else:
        netloc = host if default else f"{host}:{port}"
    path = re.sub(r";jsessionid=[^/?#]*", "", parts.path, flags=re.I) or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not SESSION_PARAMS.match(k)]
    # w3lib (Scrapy's) settles percent-encoding and IDNA, so /stem%7ecells and /stem~cells, or
    # /café and /caf%C3%A9, are one page, fetched once
    return canonicalize_url(urlunsplit((scheme, netloc, path, urlencode(sorted(query)), "")))


def canonical_host(host: str) -> str | None:
    """The host as the WHATWG URL parser reads it: a host whose last label is a number is an IPv4
    address in decimal, octal (0177) or hex (0x7f) parts, written back dotted; IPv6 compressed.
    None when such a host is not a valid address (the URL is then refused, as browsers do)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.strip("[]")).compressed
        except ValueError:
            return None
    labels = host.split(".")
    if not _NUMBER.match(labels[-1]):
        return host
    nums = []
    for label in labels:
        if not _NUMBER.match(label):
            return None
        if label[:2] in ("0x", "0X"):
            nums.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label[0] == "0":
            if not re.fullmatch(r"[0-7]+", label):
                return None
            nums.append(int(label, 8))
        else:
            nums.append(int(label))
    if len(nums) > 4 or any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        return None
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


@lru_cache(maxsize=4096)
def site_of(url_or_host: str) -> str:
    """The registrable domain (clinic.co.uk), or the host itself for IPs and single-label hosts."""
    host = urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host
    host = (host or "").lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    return _PSL.privatesuffix(host) or host


def same_site(a: str, b: str) -> bool:
    return site_of(a) == site_of(b)


def trap_reason(url: str, max_query_params: int = 4) -> str | None:
    """Why a URL looks like a crawler trap or a non-page, or None."""
    parts = urlsplit(url)
    if SKIP_EXTENSIONS.search(parts.path):
        return "not a web page (file extension)"
    if CALENDAR.search(parts.path + ("?" + parts.query if parts.query else "")):
        return "calendar or date archive (endless)"
    params = parse_qsl(parts.query, keep_blank_values=True)
    if len(params) > max_query_params or len(parts.query) > 200:
        return "endless query string"
    segs = [s for s in parts.path.split("/") if s]
    if len(segs) > 8 or any(segs.count(s) > 2 for s in set(segs)):
        return "repeating path (trap)"
    return None


def priority(url: str, anchor_text: str = "") -> int:
    """Lower comes first: pages about treatments, conditions, FAQ, pricing, reviews before others."""
    text = f"{urlsplit(url).path} {anchor_text}"
    return 0 if PREFER.search(text) else 1


class BadURL(ValueError):
    """A start URL a user gave that is not one: `reason`, and `hint` (a likely fix) or None."""

    def __init__(self, reason: str, hint: str | None = None):
        super().__init__(reason + (f" (did you mean {hint}?)" if hint else ""))
        self.reason, self.hint = reason, hint


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.S)
_HOST = re.compile(r"^(?:localhost|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?(?:[/?#].*)?$", re.S)
_NEAR_HTTP = {"htp": "http", "htpp": "http", "htt": "http", "ttp": "http", "hxxp": "http", "http:": "http",
              "htps": "https", "htpps": "https", "ttps": "https", "hxxps": "https", "https:": "https"}


def start_url(raw: str) -> str:
    """The normalised URL of a start page that a user typed (`audit URL`, a line of a `batch`
    list): an absolute http(s) URL. Anything else raises BadURL, with a hint where the fix is
    plain: htp://x, clinic.example, clinic.example:8080 (a scheme-less host:port reads as a URL
    of scheme "clinic.example") all suggest http://... ."""
    text = (raw or "").strip()
    if not text:
        raise BadURL("no URL")
    if any(c.isspace() for c in text):
        raise BadURL("not an http(s) URL")
    m = _SCHEME.match(text)
    if m and m.group(2).startswith("//"):
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme in ("http", "https"):
            url = normalise(text)
            if url is None:
                raise BadURL("not an http(s) URL: no host, or a bad port")
            return url
        fix = _NEAR_HTTP.get(scheme)
        raise BadURL("not an http(s) URL", _hint(f"{fix}:{rest}") if fix else None)
    if m and m.group(1).lower() in ("http", "https"):            # http:clinic.example, https:/x
        raise BadURL("not an http(s) URL", _hint(f"{m.group(1).lower()}://{m.group(2).lstrip('/')}"))
    if _HOST.match(text):                                          # clinic.example[:8080][/path]
        raise BadURL("not an http(s) URL: no scheme", _hint("http://" + text))
    raise BadURL("not an http(s) URL")


def _hint(candidate: str) -> str | None:
    return normalise(candidate)
