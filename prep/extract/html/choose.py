"""The trafilatura extractor and the default, ``auto``: trafilatura's choice of the main content,
with the project's own rules taking over where trafilatura keeps nothing or clearly less.

trafilatura finds the article body better than the rules on most real news and blog pages (it
weighs text density, link density and dozens of site patterns), but on some pages it keeps
nothing or a fragment. The rules keep every block that is not named or shaped like clutter, so
they seldom lose the article, at the price of letting some boilerplate in. ``auto`` runs both
and takes the rules' text when trafilatura's is empty or holds less than FALLBACK_SHARE of the
rules' text (in non-space characters, so pages in scripts without spaces count alike).

``auto`` asks trafilatura for its precision mode (``favor_precision``), which leaves out teasers
of other stories and share widgets that the plain mode keeps on some news pages (on
tests/data/html: a PanARMENIAN page from F1 0.76 to 0.99, no page lower by more than 0.004);
``--extractor trafilatura`` is trafilatura's plain mode, as documented by trafilatura.

Each page says which extractor's text it got. Both paths lay text out alike (see tree.py and
walk.py): blank lines between blocks, "- " list items, "a | b" table rows, and code blocks
character for character: a trafilatura block holding the same characters as one of the page's
<pre> (or multi-line <code>) blocks is replaced by that block as the rules keep it.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import replace

import lxml.html
import trafilatura

from prep.extract.html.blocks import GUTTER, Page, collapse, markup_page, source_code, squeeze
from prep.extract.html.charset import decode
from prep.extract.html.tree import join_blocks, tree_blocks

# trafilatura's text is kept when it holds at least this share of the rules' text (non-space
# characters). Where both found the article, trafilatura's text was 0.89 to 1.29 of the rules'
# on the pages of tests/data/html and data/raw/html (the rules keep bylines and captions,
# trafilatura some tables, quotes and teasers); a third or less means it kept a fragment.
FALLBACK_SHARE = 0.3

# trafilatura logs ERROR and WARNING lines for pages it finds empty or cannot parse; here the
# stage reports every page it drops (the rejects file and a line on stderr), so they are noise.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# libxml2 gives up on one node (a comment, a text run) over 10,000,000 bytes unless told
# otherwise, and trafilatura's own parser does not tell it: the rest of the page is lost. A
# page of fewer characters than a quarter of that (UTF-8 spends at most 4 bytes on one) cannot
# hold such a node and goes to trafilatura as text, parsed as trafilatura parses it; a longer
# one is parsed here with the same options and huge_tree, and handed over as a tree.
LIBXML_NODE_BYTES = 10_000_000
HUGE_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                                   remove_comments=True, remove_pis=True, huge_tree=True)


def trafilatura_input(markup: str):
    """The page as trafilatura should get it: the text itself, or for a long page its tree."""
    if len(markup) * 4 < LIBXML_NODE_BYTES:
        return markup
    return lxml.html.fromstring(markup.encode("utf-8", "surrogatepass"), parser=HUGE_PARSER)


def trafilatura_result(markup: str, with_metadata: bool = True,
                       precise: bool = False) -> tuple[list[tuple[str, str]], str | None]:
    """trafilatura's main content of one decoded page as (kind, text) blocks, and its title."""
    document = trafilatura.bare_extraction(trafilatura_input(markup), include_comments=False,
                                           with_metadata=with_metadata,
                                           favor_precision=precise)
    if document is None:
        return [], None
    blocks = [(kind, unicodedata.normalize("NFC", text)) for kind, text in tree_blocks(document.body)]
    title = unicodedata.normalize("NFC", collapse(document.title)) if document.title else None
    return blocks, title


def restore_code(blocks: list[tuple[str, str]], code: dict[str, str]) -> list[tuple[str, str]]:
    """The blocks, each one that holds a code block's characters replaced by that code block;
    a block holding only a highlighter's line numbers (GUTTER) left out."""
    if not code:
        return blocks
    restored = [("pre", code[key]) if (key := squeeze(text)) in code else (kind, text) for kind, text in blocks]
    return [(kind, text) for kind, text in restored if text != GUTTER]


def trafilatura_extract(data: bytes) -> Page:
    decoded = decode(data)
    blocks, title = trafilatura_result(decoded.text)
    return Page(join_blocks(restore_code(blocks, source_code(decoded.text))), title, decoded.encoding,
                "trafilatura", decision=decoded.decision, declared=decoded.declared)


def weight(text: str) -> int:
    """Non-space characters: a length that treats languages written with and without spaces alike."""
    return sum(1 for char in text if not char.isspace())


def auto_extract(data: bytes) -> Page:
    """trafilatura's text (precision mode), or the rules' text where trafilatura kept nothing or
    a fragment. The title is the rules' (<title>, og:title, then the first <h1>)."""
    decoded = decode(data)
    # Metadata (dates, authors, site name) is not used here, and finding it costs time.
    blocks, title = trafilatura_result(decoded.text, with_metadata=False, precise=True)
    rules = markup_page(decoded)
    text = join_blocks(return_lost_code(restore_code(blocks, rules.code), rules))
    if not text or weight(text) < FALLBACK_SHARE * weight(rules.text):
        return replace(rules, title=rules.title or title)
    return replace(rules, text=text, title=rules.title or title, extractor="trafilatura")


def return_lost_code(blocks: list[tuple[str, str]], rules: Page) -> list[tuple[str, str]]:
    """The blocks with each code block of the rules' main text that trafilatura's precision mode
    left out (a short shell session after "run the code by the following commands") put back
    after the block it follows in the rules' text, where trafilatura kept that block; a code block
    whose neighbour trafilatura did not keep stays out, since its place is unknown."""
    kept = {text for _, text in blocks}
    out = list(blocks)
    for code in dict.fromkeys(rules.code.values()):
        start = rules.text.find("\n\n" + code + "\n\n") if code and code not in kept else -1
        if start < 0:
            continue
        before = rules.text[:start].rsplit("\n\n", 1)[-1]
        at = next((i for i, (_, text) in enumerate(out) if text == before), None)
        if at is not None:
            out.insert(at + 1, ("pre", code))
            kept.add(code)
    return out
