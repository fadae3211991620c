"""The main text of an HTML page: decoding, boilerplate pruning and block layout.

``page_text(data)`` reads the bytes of one page and returns its readable text: headings and
paragraphs separated by a blank line, list items and table rows as lines, whitespace
collapsed inside each block. The tree is walked with an explicit stack, never by recursion,
so a page of thousands of nested elements is no harder than a flat one.

Boilerplate goes in one pass: tags that never hold prose (script, nav, forms...), elements
whose id/class/role/aria-label names a known kind of clutter (cookie banners, newsletter
boxes, share bars...), and blocks whose text is mostly link text (menus, tag clouds, lists
of related posts). When the page marks its main content with <main> (or role=main), only
that part is kept; within it, an <article> (or a <div> named "post", "entry"...) that holds
at least half of the text is kept alone, leaving related posts and comments behind.
"""
from __future__ import annotations

import importlib.util
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bs4 import BeautifulSoup

from prep.extract.html.charset import Decoded, decode
from prep.extract.html.rules import is_gutter
from prep.extract.html.walk import BlockWalker, pre_source, pre_text

# C0 controls other than tab, newline, form feed and carriage return are parse errors in
# HTML; removing them also keeps the walker's stand-ins for <br> and cells unambiguous.
CONTROLS = dict.fromkeys([*range(0, 9), 11, *range(14, 32), 127])
CODE_TAG = re.compile(r"<(?:pre|code)[\s>]", re.I)
# The value code_blocks() gives a syntax highlighter's line-number column: not code, not text.
GUTTER = ""


@dataclass
class Page:
    """What an extractor returns for one page; ``extractor`` names the one whose text it is."""
    text: str
    title: str | None
    encoding: str
    extractor: str = "bs4"
    # The page's code blocks as the rules keep them, keyed by squeeze() (see code_blocks).
    code: dict[str, str] = field(default_factory=dict)
    # How the charset was chosen when the label and the bytes disagreed (charset.decode).
    decision: str | None = None
    declared: str | None = None


def collapse(text: str) -> str:
    return " ".join(text.split())


def squeeze(text: str) -> str:
    """The text without any whitespace: what a block holds, however it was laid out."""
    return "".join(text.split())


@lru_cache(maxsize=1)
def soup_parser() -> str:
    """lxml when it is importable (several times faster than html.parser), else the builtin."""
    return "lxml" if importlib.util.find_spec("lxml") else "html.parser"


def page_text(data: bytes) -> Page:
    """Decode, parse with BeautifulSoup (lxml) and keep the main text of one page."""
    return markup_page(decode(data))


def parse(markup: str) -> BeautifulSoup:
    """The page's tree. lxml's huge_tree lifts libxml2's 10,000,000-byte cap on one node: past
    it, libxml2 gives up on a comment (or processing instruction) and hands its content on as
    text, so a 10 MB comment became page text; the stage bounds the page's size instead."""
    parser = soup_parser()
    options = {"huge_tree": True} if parser == "lxml" else {}
    return BeautifulSoup(markup.translate(CONTROLS), parser, **options)


def markup_page(decoded: Decoded) -> Page:
    """The main text of one decoded page by this project's rules (its charset is reported)."""
    markup = decoded.text
    soup = parse(markup)
    code = code_blocks(soup) if CODE_TAG.search(markup) else {}
    walker = BlockWalker()
    walker.walk(soup)
    title = walker.title or walker.og_title or walker.h1
    text = unicodedata.normalize("NFC", walker.text())
    return Page(text, unicodedata.normalize("NFC", collapse(title)) if title else None, decoded.encoding,
                code=code, decision=decoded.decision, declared=decoded.declared)


def code_blocks(soup: BeautifulSoup) -> dict[str, str]:
    """Every <pre>, and every <code> outside one whose text spans lines, as the rules keep it
    (walk.pre_text), keyed by squeeze(): the other extractors put these back in place of the
    blocks that hold the same characters, so code reads alike, byte for byte, in every path
    (trafilatura turns a <pre> that does not look like code into a quote, spaces collapsed)."""
    found: dict[str, str] = {}
    for tag in soup.find_all(("pre", "code")):
        if tag.name == "code" and tag.find_parent("pre") is not None:
            continue
        if is_gutter(tag) or tag.find_parent(is_gutter) is not None:
            # A line-number column: the other extractors keep it as a block of its own, which
            # restore_code drops (GUTTER).
            found.setdefault(squeeze(tag.get_text()), GUTTER)
            continue
        text = unicodedata.normalize("NFC", pre_text(pre_source(tag)))
        if text.strip() and (tag.name == "pre" or "\n" in text):
            found.setdefault(squeeze(text), text)
            # Line numbers written inline: an extractor that keeps them has these characters.
            found.setdefault(squeeze(pre_source(tag, gutters=True)), text)
    return found


def source_code(markup: str) -> dict[str, str]:
    """code_blocks() of a decoded page; pages without <pre> or <code> are not parsed."""
    return code_blocks(parse(markup)) if CODE_TAG.search(markup) else {}
