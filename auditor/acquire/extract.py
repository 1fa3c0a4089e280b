"""Turn a Document into a Page: the visible text, cut into blocks that no sentence may cross.

Plain text is audited exactly as it is (offsets index the file's content). HTML gives the title,
the meta description and the visible body text; scripts, styles, comments and hidden elements
are left out (hidden: the hidden attribute, aria-hidden, an inline display:none or
visibility:hidden, or a simple class or id rule of the page's own <style>; see css.py), and
every block element (p, li, headings, td, dt/dd, a div or section holding text
directly, br) ends a segment. Blocks are joined by a blank line, so offsets index `Page.text`.
Each block knows its region (header, nav, main, footer), so a finding can say where it stood.
"""
from __future__ import annotations

import re
from typing import Optional

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import Tag

from ..model import Block, Document, Page
from .css import HiddenRules, declarations, hidden_rules

SKIP = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
        "head", "select", "option", "button", "input", "textarea", "map", "audio", "video", "picture"}
BLOCK = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "dt", "dd", "div", "section",
         "article", "main", "header", "footer", "nav", "aside", "blockquote", "pre", "ul", "ol", "dl",
         "table", "tr", "tbody", "thead", "tfoot", "form", "fieldset", "figure", "figcaption", "address",
         "details", "summary", "caption", "hr", "body", "html", "center", "legend", "label"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "summary", "caption", "legend"}
ITEMS = {"li", "dt", "dd", "td", "th"}
REGION_TAGS = {"header": "header", "nav": "nav", "footer": "footer", "aside": "nav"}
REGION_ROLES = {"banner": "header", "navigation": "nav", "contentinfo": "footer", "complementary": "nav"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_WS = re.compile(r"\s+")


def _hidden(tag: Tag, rules: Optional[HiddenRules] = None) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    style = tag.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    if rules:
        classes, ident = tag.get("class") or [], tag.get("id")
        if isinstance(classes, str):
            classes = classes.split()
        if (classes or ident) and rules.hides(tag.name.lower(), classes, ident, declarations(style)):
            return True
    return False


def _page_rules(soup) -> HiddenRules:
    """The simple hiding rules of the page's <style> elements for screens (not media="print")."""
    sheets = []
    for st in soup.find_all("style"):
        media = (st.get("media") or "all").lower()
        if "all" in media or "screen" in media:
            sheets.append(st.get_text())
    return hidden_rules(sheets)


def _region(tag: Tag, inherited: str) -> str:
    if tag.name in REGION_TAGS:
        return REGION_TAGS[tag.name]
    role = tag.get("role")
    if isinstance(role, str) and role in REGION_ROLES:
        return REGION_ROLES[role]
    return inherited


class _Builder:
    def __init__(self):
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.pos = 0
        self.buf: list[str] = []
        self.kind = "para"
        self.region = "main"

    def add_block(self, text: str, kind: str, region: str):
        text = _WS.sub(" ", text).strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.pos += 2
        self.blocks.append(Block(self.pos, self.pos + len(text), kind, region))
        self.parts.append(text)
        self.pos += len(text)

    def flush(self):
        if self.buf:
            self.add_block("".join(self.buf), self.kind, self.region)
        self.buf = []

    def walk(self, root: Tag, kind: str, region: str, hidden=None):
        """Every visible text node under `root`, in document order, into blocks.

        An explicit stack, not recursion: a hostile page may nest 100,000 elements. Each frame is
        (children left, kind, region, whether the element is a block that ends a segment)."""
        # bs4 is imported here, not at the top: scanning plain text should not pay for it
        from bs4 import Comment, Doctype, NavigableString, ProcessingInstruction, Tag
        stack = [(iter(root.children), kind, region, False)]
        while stack:
            children, kind, region, block = stack[-1]
            child = next(children, _END)
            if child is _END:
                stack.pop()
                if block:
                    self.flush()
                continue
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                if not self.buf:
                    self.kind, self.region = kind, region
                self.buf.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower() if child.name else ""
            if name in SKIP or _hidden(child, hidden):
                continue
            if name == "br":
                self.flush()
                continue
            if name in BLOCK:
                self.flush()
                ckind = "heading" if name in HEADINGS else "item" if name in ITEMS else "para"
                stack.append((iter(child.children), ckind, _region(child, region), True))
            else:
                stack.append((iter(child.children), kind, _region(child, region), False))


_END = object()


def html_to_page(html: str, url: str) -> Page:
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(html, "lxml")
    b = _Builder()
    title = None
    if soup.title and soup.title.string:
        title = _WS.sub(" ", soup.title.get_text()).strip() or None
    if title:
        b.add_block(title, "title", "header")
    for m in soup.find_all("meta"):
        name = (m.get("name") or m.get("property") or "").lower()
        if name in ("description", "og:description") and m.get("content"):
            b.add_block(m["content"], "meta", "header")
            break
    body = soup.body or soup
    b.walk(body, "para", "main", _page_rules(soup))
    b.flush()
    return Page(url=url, text="".join(b.parts), blocks=b.blocks, title=title)


def text_to_page(text: str, url: str) -> Page:
    """Plain text: one block per line (blocks are computed by the engine from the lines)."""
    title = next((ln.strip() for ln in text.splitlines() if ln.strip()), None)
    return Page(url=url, text=text, blocks=[], title=title[:200] if title else None)


def looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or ("<body" in head and "</" in head)


def extract(doc: Document) -> Page:
    """The page a fetched or read document shows: its decoded text (bytes as UTF-8, with
    replacement, when no one decoded them earlier), blocks and metadata."""
    text = doc.text if doc.text is not None else doc.content.decode("utf-8", "replace")
    if doc.content_type == "text/html":
        page = html_to_page(text, doc.url)
    else:
        page = text_to_page(text, doc.url)
    page.meta = {k: v for k, v in {
        "status": doc.status, "fetched_at": doc.fetched_at, "sha256": doc.sha256,
        "warc_record_id": doc.warc_record_id, "content_type": doc.content_type,
        "redirects": doc.redirects or None}.items() if v is not None}
    return page
