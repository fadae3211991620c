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

import codecs
import importlib.util
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bs4 import BeautifulSoup, UnicodeDammit

from prep.extract.html.walk import BlockWalker, pre_source, pre_text

# The charset of a page is declared in its first bytes; browsers look at the first 1,024,
# a little more costs nothing and catches pages with a long comment before <meta>.
CHARSET_SCAN_BYTES = 4096
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# What browsers do with these labels (WHATWG Encoding): latin-1 and ASCII pages are read as
# windows-1252, a superset, so curly quotes and the euro sign in 0x80-0x9F come out right;
# a UTF-16 label on a page that is ASCII-compatible bytes cannot be true and means UTF-8.
LABEL_MEANS = {"iso8859-1": "cp1252", "ascii": "cp1252", "utf-16": "utf-8",
               "utf-16-le": "utf-8", "utf-16-be": "utf-8"}
# C0 controls other than tab, newline, form feed and carriage return are parse errors in
# HTML; removing them also keeps the walker's stand-ins for <br> and cells unambiguous.
CONTROLS = dict.fromkeys([*range(0, 9), 11, *range(14, 32), 127])
CODE_TAG = re.compile(r"<(?:pre|code)[\s>]", re.I)


@dataclass
class Page:
    """What an extractor returns for one page; ``extractor`` names the one whose text it is."""
    text: str
    title: str | None
    encoding: str
    extractor: str = "bs4"
    # The page's code blocks as the rules keep them, keyed by squeeze() (see code_blocks).
    code: dict[str, str] = field(default_factory=dict)


def codec_name(label: bytes | str) -> str | None:
    """The Python codec for a charset label, as a browser would read it; None if unknown."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return LABEL_MEANS.get(name, name)


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): a byte-order mark first, then <meta charset>, then UTF-8, then a guess.

    The guess is bs4's UnicodeDammit (its detectors, then windows-1252), which never fails.
    """
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, "replace"), encoding
    if b"\x00" in data[:CHARSET_SCAN_BYTES]:
        raise ValueError("binary data (NUL bytes), not an HTML page")
    found = META_CHARSET.search(data, 0, CHARSET_SCAN_BYTES)
    declared = codec_name(found.group(1)) if found else None
    for encoding in dict.fromkeys(e for e in (declared, "utf-8") if e):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    dammit = UnicodeDammit(data, ["utf-8", "windows-1252"], is_html=True)
    if dammit.unicode_markup is None:
        return data.decode("cp1252", "replace"), "cp1252"
    return dammit.unicode_markup, codec_name(dammit.original_encoding or "cp1252") or "cp1252"


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
    return markup_page(*decode(data))


def parse(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup.translate(CONTROLS), soup_parser())


def markup_page(markup: str, encoding: str) -> Page:
    """The main text of one decoded page by this project's rules (``encoding`` is reported)."""
    soup = parse(markup)
    code = code_blocks(soup) if CODE_TAG.search(markup) else {}
    walker = BlockWalker()
    walker.walk(soup)
    title = walker.title or walker.og_title or walker.h1
    text = unicodedata.normalize("NFC", walker.text())
    return Page(text, unicodedata.normalize("NFC", collapse(title)) if title else None, encoding, code=code)


def code_blocks(soup: BeautifulSoup) -> dict[str, str]:
    """Every <pre>, and every <code> outside one whose text spans lines, as the rules keep it
    (walk.pre_text), keyed by squeeze(): the other extractors put these back in place of the
    blocks that hold the same characters, so code reads alike, byte for byte, in every path
    (trafilatura turns a <pre> that does not look like code into a quote, spaces collapsed)."""
    found: dict[str, str] = {}
    for tag in soup.find_all(("pre", "code")):
        if tag.name == "code" and tag.find_parent("pre") is not None:
            continue
        text = unicodedata.normalize("NFC", pre_text(pre_source(tag)))
        if text.strip() and (tag.name == "pre" or "\n" in text):
            found.setdefault(squeeze(text), text)
    return found


def source_code(markup: str) -> dict[str, str]:
    """code_blocks() of a decoded page; pages without <pre> or <code> are not parsed."""
    return code_blocks(parse(markup)) if CODE_TAG.search(markup) else {}
