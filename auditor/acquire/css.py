"""Which elements a page's own <style> rules hide: the simple rules only.

A rule counts when it stands at the top level of a stylesheet (not inside @media, @supports or
any other at-rule, since those hide only on some screens or never) and every one of its
selectors is a simple one: an optional tag name with classes and an id (`.x`, `#y`, `div.x.y`).
Its `display: none` or `visibility: hidden` then hides the element, unless a later simple rule
for the same selector, or the element's own style attribute, sets that property otherwise.
Selectors with combinators, pseudo-classes or attributes (`.nav:hover .menu`) are not read: what
they hide depends on state the audit does not have.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_SIMPLE = re.compile(r"^([a-zA-Z][\w-]*)?((?:[.#][\w-]+)+)$")
_PART = re.compile(r"([.#])([\w-]+)")
_DECL = re.compile(r"(display|visibility)\s*:\s*([\w-]+)", re.I)
_BRACES = re.compile(r"[{};]")
_HIDING = {"display": "none", "visibility": "hidden"}
PROPS = tuple(_HIDING)


@dataclass(frozen=True)
class Selector:
    tag: Optional[str]
    classes: frozenset
    id: Optional[str]


@dataclass
class HiddenRules:
    """Selectors and the properties (display, visibility) by which they hide, indexed by one of
    their classes or their id so that an element is checked against few rules."""

    by_key: dict = field(default_factory=dict)      # ".x" or "#y" -> [(Selector, props)]

    def __bool__(self):
        return bool(self.by_key)

    def hides(self, name: str, classes, ident: Optional[str], inline: dict) -> bool:
        keys = [f".{c}" for c in classes] + ([f"#{ident}"] if ident else [])
        for key in keys:
            for sel, props in self.by_key.get(key, ()):
                if sel.tag and sel.tag != name:
                    continue
                if not sel.classes <= set(classes) or (sel.id and sel.id != ident):
                    continue
                if any(inline.get(p, _HIDING[p]) == _HIDING[p] for p in props):
                    return True
        return False


def declarations(style: str) -> dict:
    """The display and visibility values a declaration block sets (the last of each wins)."""
    return {m.group(1).lower(): m.group(2).lower() for m in _DECL.finditer(style or "")}


def hidden_rules(sheets: list[str]) -> HiddenRules:
    last: dict[Selector, dict] = {}                  # in order: a later rule overrides an earlier
    for sheet in sheets:
        for selectors, block in _top_level_rules(_COMMENT.sub("", sheet)):
            decls = declarations(block)
            if not decls:
                continue
            parsed = [_selector(s) for s in selectors.split(",")]
            if not parsed or None in parsed:
                continue
            for sel in parsed:
                last.setdefault(sel, {}).update(decls)
    out = HiddenRules()
    for sel, decls in last.items():
        props = tuple(p for p in PROPS if decls.get(p) == _HIDING[p])
        if props:
            key = f".{min(sel.classes)}" if sel.classes else f"#{sel.id}"
            out.by_key.setdefault(key, []).append((sel, props))
    return out


def _selector(text: str) -> Optional[Selector]:
    m = _SIMPLE.match(text.strip())
    if not m:
        return None
    classes, ident = set(), None
    for kind, name in _PART.findall(m.group(2)):
        if kind == ".":
            classes.add(name)
        elif ident is None:
            ident = name
        else:
            return None
    return Selector(m.group(1).lower() if m.group(1) else None, frozenset(classes), ident)


def _top_level_rules(css: str):
    """(selector text, declaration block) of each rule outside any at-rule block."""
    depth, start, prelude, in_at = 0, 0, "", False
    for m in _BRACES.finditer(css):
        i, ch = m.start(), m.group()
        if ch == "{":
            if depth == 0:
                prelude = css[start:i].strip()
                in_at = prelude.startswith("@")
                start = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth <= 0:
                if not in_at and depth == 0:
                    yield prelude, css[start:i]
                depth, start, in_at = 0, i + 1, False
        elif ch == ";" and depth == 0:
            start = i + 1                            # @import ...; @charset ...;
