"""Lay out the XML tree trafilatura keeps (TEI-like: head, p, list/item, table/row/cell, code,
quote, lb) as text in the same shape as the project's own rules give.

Why not trafilatura's own text output: it separates paragraphs with a single newline, keeps
the source's line wrapping and indentation inside paragraphs, and drops blank lines inside
code blocks. Here headings and paragraphs are separated by a blank line, whitespace inside
a block is collapsed (``<lb/>`` stays a line break), list items become "- " lines, table rows
"a | b" lines, and a code block (a ``<code>`` whose text spans lines: trafilatura turns
``<pre>`` into ``<code>``) is kept character for character, only its first and last newline
removed. The walk uses an explicit stack, so nesting depth costs nothing.
"""
from __future__ import annotations

from prep.extract.html.walk import pre_text

BLOCK_TAGS = frozenset({"head", "p", "list", "item", "table", "row", "quote", "div", "ab", "note",
                        "figure", "body"})
LINE_KINDS = frozenset({"item", "row"})
# Stand-ins inside a block being built: a line break and a table cell boundary. Control
# codes never survive trafilatura's text cleaning, so they cannot clash with page text.
BR, CELL = "\x00", "\x01"


class TreeLayout:
    """Collects (kind, text) blocks from one trafilatura body; ``text()`` joins them."""

    def __init__(self):
        self.blocks: list[tuple[str, str]] = []
        self.parts: list[str] = []
        self.kind = "block"

    def walk(self, root) -> "TreeLayout":
        stack: list[tuple[str, object]] = [("enter", root)]
        while stack:
            action, item = stack.pop()
            if action == "text":
                self.parts.append(item)
            elif action == "leave":
                self.leave(item)
            elif self.enter(item):
                if item.tail:
                    stack.append(("text", item.tail))
                stack.append(("leave", item))
                stack.extend(("enter", child) for child in reversed(item))
                if item.text:
                    stack.append(("text", item.text))
            elif item.tail:
                stack.append(("text", item.tail))
        self.flush()
        return self

    def enter(self, element) -> bool:
        """Start an element; False when it was handled whole (its tail still follows)."""
        tag = element.tag
        if not isinstance(tag, str) or tag == "graphic":
            return False               # comments, processing instructions, images
        if tag == "lb":
            self.parts.append(BR)
            return False
        if tag == "code":
            code = pre_text(code_text(element))
            if "\n" in code:
                self.flush()
                self.add("pre", code)
                return False
            return True                 # inline code: part of the sentence around it
        if tag == "cell":
            self.parts.append(CELL)
        elif tag in BLOCK_TAGS:
            self.flush()
            self.kind = "item" if tag == "item" else "row" if tag == "row" else self.kind
        return True

    def leave(self, element) -> None:
        if element.tag in BLOCK_TAGS:
            self.flush()
            if element.tag in ("item", "row"):
                self.kind = "block"     # an empty item must not mark the next block as one

    def flush(self) -> None:
        """Close the block being built: collapse whitespace, keep line breaks and cells."""
        if not self.parts:
            return
        raw = "".join(self.parts)
        self.parts = []
        lines = (" | ".join(filter(None, (" ".join(cell.split()) for cell in line.split(CELL))))
                 for line in raw.split(BR))
        text = "\n".join(filter(None, lines))
        if text:
            self.add(self.kind, "- " + text if self.kind == "item" else text)
        self.kind = "block"

    def add(self, kind: str, text: str) -> None:
        if text.strip():
            self.blocks.append((kind, text))

    def text(self) -> str:
        return join_blocks(self.blocks)


def join_blocks(blocks: list[tuple[str, str]]) -> str:
    """(kind, text) blocks separated by a blank line; consecutive list items or table rows by
    a newline."""
    out: list[str] = []
    previous = None
    for kind, text in blocks:
        if out:
            out.append("\n" if kind == previous and kind in LINE_KINDS else "\n\n")
        out.append(text)
        previous = kind
    return "".join(out)


def code_text(element) -> str:
    """A code element's text as shown: ``<lb/>`` (a <br> inside <pre>, as syntax highlighters
    write line ends) is a newline; spaces, tabs and indentation stay as they are."""
    out: list[str] = []
    stack: list[tuple[object, bool]] = [(element, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            if node is not element and node.tail:
                out.append(node.tail)
            continue
        if node.tag == "lb":
            out.append("\n")
        elif isinstance(node.tag, str) and node.text:
            out.append(node.text)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return "".join(out)


def tree_blocks(body) -> list[tuple[str, str]]:
    """The (kind, text) blocks of a trafilatura result tree (``Document.body``), in order."""
    return TreeLayout().walk(body).blocks if body is not None else []


def tree_text(body) -> str:
    """The text of a trafilatura result tree, laid out in blocks."""
    return join_blocks(tree_blocks(body))
