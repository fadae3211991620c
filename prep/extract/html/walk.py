"""One pass over a BeautifulSoup tree that lays out its readable blocks and skips the clutter.

The walk uses an explicit stack (no recursion, so depth is unlimited). Entering an element
may skip it whole: tags that never hold prose, context-dependent tags (a page <header>, a
<form> that does not wrap the content), and elements whose id/class/role/aria-label names
boilerplate. Leaving a container checks its link density: if most of the text added since
it opened is link text, those blocks are taken back (menus, tag clouds, "related posts").
"""
from __future__ import annotations

from bs4 import CData, NavigableString, Tag

from prep.extract.html.rules import (
    BLOCK_TAGS,
    CONTENT_MARKERS,
    CONTEXT_TAGS,
    DROP_TAGS,
    FORM_PAGE_PARAGRAPHS,
    LINK_DENSITY_LIMIT,
    NAMED_ARTICLE_TAGS,
    attrs_say_drop,
    is_gutter,
    name_string,
    names_article,
)

# Stand-ins for <br> and a table cell boundary inside a block: not whitespace, so the
# whitespace collapse keeps them; control codes, which page_text removes from the markup.
BR, CELL = "\x00", "\x01"
LINE_KINDS = frozenset({"item", "row"})
# An <article> holding at least this share of the chosen region's text is the content; below
# it, the articles are cards in a listing (or a sidebar) and the whole region is kept.
ARTICLE_SHARE = 0.5


def pre_text(raw: str) -> str:
    """A code block's text as shown: line breaks and indentation kept (CRLF read as LF, as
    browsers do); only the newlines at its two ends go."""
    return raw.replace("\r\n", "\n").strip("\n")


def pre_source(tag: Tag, gutters: bool = False) -> str:
    """The text of a <pre> with each <br> as a newline (syntax highlighters end lines with <br>);
    comments and scripts inside it are not text, nor (unless ``gutters``) line numbers written
    inline (rules.is_gutter): "1import os" is not a line of the code."""
    parts = []
    stack = list(reversed(tag.contents))
    while stack:
        node = stack.pop()
        if node.__class__ in (NavigableString, CData):
            parts.append(str(node))
        elif node.__class__ is Tag:
            if node.name == "br":
                parts.append("\n")
            elif gutters or not is_gutter(node):
                stack.extend(reversed(node.contents))
    return "".join(parts)


class BlockWalker:
    """Collects (kind, text, in_main, article) blocks from one tree; ``text()`` joins them.

    ``article`` numbers the outermost article a block sits in (0: none): an <article>, or a
    <div>/<section> whose id/class names one (ARTICLE_WORDS).
    """

    def __init__(self):
        self.blocks: list[tuple[str, str, bool, int]] = []
        self.parts: list[str] = []     # inline text of the block being built
        self.kind = "block"            # kind of the next block: block | item | row | pre
        self.chars = 0                 # non-space characters kept so far
        self.link_chars = 0            # ... of which inside <a>
        self.links = self.mains = self.articles = 0   # depth counters
        self.article = self.article_count = 0         # the current outermost <article>
        self.title = self.og_title = self.h1 = None

    def walk(self, root: Tag) -> None:
        stack: list = [root]
        while stack:
            node = stack.pop()
            if node.__class__ is tuple:          # leaving an element: (tag, mark)
                self.leave(*node)
            elif node.__class__ is NavigableString:
                text = str(node)
                self.parts.append(text)
                kept = len(text.strip())
                self.chars += kept
                if self.links:
                    self.link_chars += kept
            elif isinstance(node, Tag):
                mark = self.enter(node)
                if mark is not None:
                    stack.append((node, mark))
                    stack.extend(reversed(node.contents))
            # Comments, doctypes, CDATA and processing instructions carry no page text.
        self.flush()

    def enter(self, tag: Tag):
        """Start an element; None skips it and everything inside it."""
        name = tag.name
        if name in DROP_TAGS or name in ("title", "meta"):
            self.read_head(tag, name)
            return None
        if name == "br":
            self.parts.append(BR)
            return None
        if name in CONTEXT_TAGS and self.context_drops(tag, name):
            return None
        attrs = tag.attrs
        names = name_string(attrs) if attrs else ""
        if attrs and (attrs_say_drop(tag, names, bool(self.mains or self.articles)) or is_gutter(tag)):
            return None
        if name == "code":
            code = pre_text(pre_source(tag))
            if "\n" in code:            # a code block written without <pre>: kept like one
                self.flush()
                self.add_code(code)
                return None
        if name in ("td", "th"):
            self.parts.append(CELL)
        elif name in BLOCK_TAGS:
            self.flush()
            if name == "pre":
                self.add_code(pre_text(pre_source(tag)))
                return None
            self.kind = "item" if name == "li" else "row" if name == "tr" else self.kind
        role = self.open_region(tag, name, names)
        return len(self.blocks), self.chars, self.link_chars, role

    def open_region(self, tag: Tag, name: str, names: str) -> str | None:
        """Count a link, <main> or article the walk is entering; its kind, for ``leave``."""
        if name == "a":
            self.links += 1
            return "a"
        if name == "main" or tag.attrs.get("role") == "main":
            self.mains += 1
            return "main"
        if name == "article" or (name in NAMED_ARTICLE_TAGS and names and names_article(names)):
            if not self.articles:
                self.article_count += 1
                self.article = self.article_count
            self.articles += 1
            return "article"
        if name == "h1" and self.h1 is None:
            self.h1 = tag.get_text(" ")
        return None

    def leave(self, tag: Tag, mark: tuple[int, int, int, str | None]) -> None:
        name = tag.name
        start, chars, link_chars, role = mark
        if name in BLOCK_TAGS:
            self.flush()
            if name in ("li", "tr"):
                self.kind = "block"    # an empty item must not mark the next block as one
        if role == "a":
            self.links -= 1
        elif role == "main":
            self.mains -= 1
        elif role == "article":
            self.articles -= 1
            self.article = self.article if self.articles else 0
        limit = LINK_DENSITY_LIMIT.get(name)
        if limit is not None:
            added = self.chars - chars
            if added and self.link_chars - link_chars > limit * added:
                # The counts stay: an enclosing block that was mostly links before this
                # list went is still mostly links ("Related" heading + a dropped list).
                del self.blocks[start:]

    def context_drops(self, tag: Tag, name: str) -> bool:
        """Page-level header/footer/aside and forms around widgets go; their article kin stay."""
        if name == "footer":
            return True
        if name == "header":
            return not (self.articles or self.mains)
        if name == "aside":
            return not self.articles
        if name == "form":   # a search box or sign-up form, unless it wraps the page (ASP.NET)
            wraps_page = len(tag.find_all("p", limit=FORM_PAGE_PARAGRAPHS)) == FORM_PAGE_PARAGRAPHS
            return not wraps_page and tag.find(CONTENT_MARKERS) is None
        return False

    def read_head(self, tag: Tag, name: str) -> None:
        if name == "title" and self.title is None:
            self.title = tag.get_text(" ").strip() or None
        elif name == "meta" and tag.get("property") == "og:title" and self.og_title is None:
            self.og_title = (tag.get("content") or "").strip() or None
        elif name == "head":
            for child in tag.find_all(["title", "meta"]):
                self.read_head(child, child.name)

    def add_code(self, text: str) -> None:
        """A <pre> (or multi-line <code>) block, kept character for character (see pre_text)."""
        if text.strip():
            self.chars += len(text.strip())
            self.kind = "item" if self.kind == "item" else "pre"
            self.parts.append(text)
            self.flush(verbatim=True)

    def flush(self, verbatim: bool = False) -> None:
        """Close the block being built: collapse whitespace, honour <br> and table cells."""
        if not self.parts:
            return
        raw = "".join(self.parts)
        self.parts = []
        if verbatim:
            text = raw
        elif BR in raw or CELL in raw:
            lines = (" | ".join(filter(None, (" ".join(c.split()) for c in part.split(CELL))))
                     for part in raw.split(BR))
            text = "\n".join(filter(None, lines))
        else:
            text = " ".join(raw.split())
        if not text:
            return
        if self.kind == "item":
            text = "- " + text
        self.blocks.append((self.kind, text, self.mains > 0, self.article))
        self.kind = "block"

    def chosen(self) -> list[tuple[str, str, bool, int]]:
        """<main> (or role=main) when the page has one; within it, or the page, the <article>
        that holds most of the text, when it holds enough (ARTICLE_SHARE)."""
        blocks = self.blocks
        if any(block[2] for block in blocks):
            blocks = [block for block in blocks if block[2]]
        sizes: dict[int, int] = {}
        for _, text, _, article in blocks:
            if article:
                sizes[article] = sizes.get(article, 0) + len(text)
        if sizes:
            total = sum(len(block[1]) for block in blocks)
            best = max(sizes, key=lambda a: (sizes[a], -a))
            if sizes[best] >= ARTICLE_SHARE * total:
                return [block for block in blocks if block[3] == best]
            if sum(sizes.values()) >= ARTICLE_SHARE * total:
                return [block for block in blocks if block[3]]
        return blocks

    def text(self) -> str:
        """The chosen blocks, a blank line between blocks and a line break between list items."""
        out: list[str] = []
        previous = None
        for kind, text, _, _ in self.chosen():
            if out:
                out.append("\n" if kind == previous and kind in LINE_KINDS else "\n\n")
            out.append(text)
            previous = kind
        return "".join(out)
