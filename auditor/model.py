"""Plain data passed between the stages: documents in, page results and site reports out.

Nothing here imports the rest of the project, so every stage (and every formatter) can depend
on it without pulling in spaCy, HTTP or SQLite.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

SEVERITIES = ("low", "medium", "high", "critical")
BANDS = ("low", "moderate", "high", "severe")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def now_iso(timespec: str = "seconds") -> str:
    """The current UTC time as ISO 8601 with a Z, to the second (or as `timespec` says)."""
    return datetime.now(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


@dataclass
class Document:
    """What was acquired: bytes or text from a file, a WARC record or a fetch, with provenance."""

    target: str                      # what the user asked for (path, URL)
    url: str                         # the local path or the final URL
    content: bytes = b""
    content_type: str = "text/plain"  # "text/plain" or "text/html"
    text: Optional[str] = None       # set when the text is already decoded
    status: Optional[int] = None
    fetched_at: Optional[str] = None
    sha256: Optional[str] = None
    warc_record_id: Optional[str] = None
    redirects: list = field(default_factory=list)


@dataclass
class Block:
    """A segment of the audited text that no sentence may cross (a paragraph, list item, heading)."""

    start: int
    end: int
    kind: str = "para"       # para | heading | item | title | meta
    region: str = "main"     # header | nav | main | footer


@dataclass
class Page:
    """Extracted text ready for analysis; offsets of every finding index `text`."""

    url: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    title: Optional[str] = None
    meta: dict = field(default_factory=dict)   # status, fetched_at, sha256, warc_record_id ...


@dataclass
class Cue:
    """A context trigger weighed for a match (negation, hedge, warning ...)."""

    category: str
    text: str
    direction: str
    start: Optional[int] = None
    end: Optional[int] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Finding:
    """One passage that makes a claim, or a page-level finding (start/end None)."""

    rule: str
    category: str
    severity: str
    confidence: float
    text: str
    sentence: Optional[str]
    start: Optional[int]
    end: Optional[int]
    cues: list[Cue] = field(default_factory=list)   # cues weighed (they did not suppress)
    region: str = "main"
    points: float = 0.0                             # what this finding added to the score
    note: str = ""                                  # why it fired (pattern, evidence for page-level)
    review: Optional[dict] = None                   # a reviewer's decision (auditor review), if any
    model: Optional[str] = None                     # the judge that decided, when one did
    features: list = field(default_factory=list)    # [feature, contribution] behind the decision
    sentence_start: Optional[int] = None            # where `sentence` (a window of it) starts and
    sentence_end: Optional[int] = None              # ends in the audited text (analyse/evidence.py)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cues"] = [c.to_dict() for c in self.cues]
        return d


@dataclass
class Suppressed:
    """A match the context engine dismissed, kept so a reviewer can see why."""

    rule: str
    category: str
    text: str
    sentence: Optional[str]
    start: Optional[int]
    end: Optional[int]
    reason: str                       # negated | hedged | hypothetical | question | attributed | warning | judge
    cue: Optional[Cue] = None
    probability: Optional[float] = None   # the judge's probability, when the judge dismissed it
    model: Optional[str] = None
    sentence_start: Optional[int] = None  # the offsets of `sentence` (a bounded window)
    sentence_end: Optional[int] = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cue"] = self.cue.to_dict() if self.cue else None
        return d


@dataclass
class Mitigation:
    """A disclosure that lowers the page score (not FDA approved, experimental, risks ...)."""

    rule: str
    kind: str
    text: str
    start: Optional[int]
    end: Optional[int]
    points: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PageResult:
    url: str
    title: Optional[str]
    score: float
    band: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    mitigations: list[Mitigation] = field(default_factory=list)
    breakdown: dict = field(default_factory=dict)   # per-category points, disclosure credit
    meta: dict = field(default_factory=dict)
    text: Optional[str] = None                      # set with --include-text
    dismissed: list[Finding] = field(default_factory=list)   # dismissed by review: listed, not scored
    # the audited text, kept for the store (review labels are quotes in it); never serialised
    source_text: Optional[str] = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "url": self.url,
            "title": self.title,
            "status": self.meta.get("status"),
            "fetched_at": self.meta.get("fetched_at"),
            "sha256": self.meta.get("sha256"),
            "score": self.score,
            "band": self.band,
            "findings": [f.to_dict() for f in self.findings],
            "mitigations": [m.to_dict() for m in self.mitigations],
            "suppressed": [s.to_dict() for s in self.suppressed],
            "dismissed_by_review": [f.to_dict() for f in self.dismissed],
            "breakdown": self.breakdown,
        }
        for k, v in self.meta.items():
            d.setdefault(k, v)
        if self.text is not None:
            d["text"] = self.text
        return d


@dataclass
class Error:
    """A target or page that could not be audited, with a reason a user can act on."""

    target: str
    reason: str
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def short_reason(self) -> str:
        """The reason without the target it may start with ("x.txt: no such file")."""
        prefix = f"{self.target}: "
        return self.reason[len(prefix):] if self.reason.startswith(prefix) else self.reason


def internal_error(target: str, exc: BaseException) -> Error:
    """An unexpected error met on one input, as that input's result (the run goes on)."""
    return Error(target, f"internal error: {type(exc).__name__}: {str(exc)[:300]}",
                 "a bug in auditor met on this input; the other inputs were audited")


@dataclass
class SiteReport:
    """One audited target: a file, a URL or a site. The JSON report is its to_dict()."""

    target: str
    audited_at: str
    score: Optional[float]           # None when no page was audited (errors say why)
    band: Optional[str]
    pages: list[PageResult] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    tool: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def findings(self):
        for p in self.pages:
            yield from p.findings

    @property
    def audited(self) -> bool:
        return bool(self.pages)

    def not_audited_reason(self) -> str:
        """Why nothing was audited: the errors' distinct reasons."""
        return "; ".join(dict.fromkeys(e.short_reason() for e in self.errors)) or "nothing to audit"

    def to_dict(self) -> dict:
        d = {
            "schema": "clinic-audit-report/1",
            "tool": self.tool,
            "target": self.target,
            "audited_at": self.audited_at,
            "score": self.score,
            "band": self.band,
            "pages": [p.to_dict() for p in self.pages],
            "errors": [e.to_dict() for e in self.errors],
        }
        d.update(self.extra)
        return d


def report_from_dict(d: dict) -> SiteReport:
    """A SiteReport back from its JSON form (the store keeps reports as JSON)."""
    def cue(c):
        return Cue(**c) if c else None

    def finding(f):
        return Finding(**{**f, "cues": [Cue(**c) for c in f.get("cues", [])]})

    pages = []
    for p in d.get("pages", []):
        findings = [finding(f) for f in p.get("findings", [])]
        suppressed = [Suppressed(**{**s, "cue": cue(s.get("cue"))}) for s in p.get("suppressed", [])]
        mitigations = [Mitigation(**m) for m in p.get("mitigations", [])]
        core = {"url", "title", "score", "band", "findings", "suppressed", "mitigations", "breakdown", "text",
                "dismissed_by_review"}
        meta = {k: v for k, v in p.items() if k not in core and v is not None}
        pages.append(PageResult(url=p["url"], title=p.get("title"), score=p["score"], band=p.get("band", "low"),
                                findings=findings, suppressed=suppressed, mitigations=mitigations,
                                breakdown=p.get("breakdown", {}), meta=meta, text=p.get("text"),
                                dismissed=[finding(f) for f in p.get("dismissed_by_review", [])]))
    known = {"schema", "tool", "target", "audited_at", "score", "band", "pages", "errors"}
    return SiteReport(target=d["target"], audited_at=d["audited_at"], score=d.get("score"), band=d.get("band"), pages=pages,
                      errors=[Error(**e) for e in d.get("errors", [])], tool=d.get("tool", {}),
                      extra={k: v for k, v in d.items() if k not in known})
