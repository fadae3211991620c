"""A streaming lexical pass over a SQL dump: quoted text out, comments out, lines kept.

Dumps quote text in ways that differ by dialect (MySQL backslash escapes, PostgreSQL E'...'
and $tag$ strings, backticks) and carry data outside SQL (PostgreSQL ``COPY ... FROM stdin``
blocks). The scanner reads one line at a time and writes one line for each line read, so
line numbers stay those of the dump. Every quoted token becomes a placeholder ``:qN`` whose
decoded value waits in ``values``; comments disappear (MySQL ``/*!NNNNN ...*/`` bodies are
kept, since MySQL runs them); COPY rows are collected under a placeholder of their own.
What remains is plain SQL that sqlparse splits and the dialect rewriter reads safely.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from prep.extract.sql.quotes import E_STRING, QUOTES

# Code characters kept from the start and the end of the current statement, enough to
# tell a COPY ... FROM stdin or a statement that has not started yet.
HEAD_CHARS = 64
TAIL_CHARS = 64


@dataclass
class Quoted:
    """One quoted token or COPY block, held aside while its statement is split and rewritten."""
    kind: str            # string | ident | dquote (MySQL "...": ident or string) | blob | bits | copy
    line: int            # where it starts in the dump
    parts: list = field(default_factory=list)
    closed: bool = False
    text: str = ""       # the decoded value, once closed
    rows: list = field(default_factory=list)  # copy: (line number, raw tab-separated row)


# Code-state tokens worth stopping at, per dialect (quote openers come from QUOTES).
SPECIALS = {
    "mysql": r"/\*M?!\d*|\*/|/\*|--(?=\s|$)|#",
    "postgres": r"/\*|--|\$(?:[A-Za-z_]\w*)?\$",
    "sqlite": r"/\*|--",
}
# Letters glued to an opening quote: X'..' blob, B'..' bits, N'..' national, E'..' escapes,
# MySQL _charset'..' introducers.
PREFIX = re.compile(r"(?<![\w$])([EeNnXxBb]|_[A-Za-z0-9]+)$")
COPY_HEAD = re.compile(r"\s*COPY\s", re.I)
COPY_TAIL = re.compile(r"\sFROM\s+stdin\s*$", re.I)
DELIMITER_LINE = re.compile(r"^\s*DELIMITER\s+(\S+)\s*$", re.I)


class Scanner:
    """Feed dump lines in order; each call returns the normalised line (same line count)."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.quotes = QUOTES[dialect]
        self.values: dict[str, Quoted] = {}
        self.directives: Counter = Counter()   # client commands dropped: DELIMITER, \connect
        self.delimiter = ";"
        self._count = 0
        self._open: tuple | None = None        # (Quoted, body regex, closer, decoder)
        self._comment = False
        self._copy: Quoted | None = None
        self._conditional = 0                  # open MySQL /*!NNNNN ... */ bodies
        self._head = ""
        self._tail = ""
        self._special = self._compile()

    def _compile(self) -> re.Pattern:
        parts = [SPECIALS[self.dialect], *map(re.escape, self.quotes), ";"]
        if self.delimiter != ";":
            parts.insert(0, re.escape(self.delimiter))
        return re.compile("|".join(parts))

    def feed(self, line: str, number: int) -> str:
        newline = "\n" if line.endswith("\n") else ""
        if self._copy is not None:
            return self._copy_line(line.rstrip("\r\n"), number) + newline
        if self._starts_statement() and self._directive(line):
            return newline
        out: list[str] = []
        pos = 0
        while pos < len(line):
            if self._open is not None:
                pos = self._in_quote(line, pos)
            elif self._comment:
                end = line.find("*/", pos)
                self._comment = end < 0
                pos = len(line) if end < 0 else end + 2
            else:
                pos = self._in_code(line, pos, number, out)
        return "".join(out).replace("\n", "").replace("\r", "") + newline

    def finish(self) -> list[tuple[int, str]]:
        """(line, problem) left at the end of the dump: a COPY block without its closing ``\\.``.

        An unterminated quote needs no entry here: the statement holding it fails to rewrite.
        """
        if self._copy is None:
            return []
        return [(self._copy.line, "COPY data has no closing \\. line (a truncated dump?)")]

    # -- states ------------------------------------------------------------------------
    def _in_code(self, line: str, pos: int, number: int, out: list[str]) -> int:
        m = self._special.search(line, pos)
        if m is None:
            self._code(line[pos:], out)
            return len(line)
        token, segment = m.group(), line[pos:m.start()]
        if token in self.quotes or token.startswith("$"):
            self._start_quote(token, segment, number, out)
        elif token.startswith("/*") and "!" in token:
            self._code(segment + " ", out)
            self._conditional += 1
        elif token == "*/":
            self._code(segment + (" " if self._conditional else token), out)
            self._conditional = max(0, self._conditional - 1)
        elif token == "/*":
            self._code(segment + " ", out)
            self._comment = True
        elif token in ("--", "#"):
            self._code(segment, out)
            return len(line)
        else:
            self._end_statement(token, segment, number, out)
        return m.end()

    def _start_quote(self, token: str, segment: str, number: int, out: list[str]) -> None:
        if token.startswith("$"):  # PostgreSQL dollar quoting: no escapes, closed by the same tag
            kind, body, closer, decode = "string", None, token, (lambda raw: raw)
        else:
            kind, body, decode = self.quotes[token]
            closer = token
            prefix = PREFIX.search(segment) if kind in ("string", "dquote") else None
            if prefix:
                segment = segment[:prefix.start()]
                letter = prefix.group(1).upper()
                kind = {"X": "blob", "B": "bits"}.get(letter, "string")
                if letter == "E" and self.dialect == "postgres":
                    body, decode = E_STRING
        self._count += 1
        name = f":q{self._count}"
        quoted = self.values[name] = Quoted(kind, number)
        self._code(f"{segment} {name} ", out)
        self._open = (quoted, body, closer, decode)

    def _in_quote(self, line: str, pos: int) -> int:
        quoted, body, closer, decode = self._open
        if body is None:
            end = line.find(closer, pos)
            stop = len(line) if end < 0 else end
        else:
            stop = body.match(line, pos).end()
            end = stop if line.startswith(closer, stop) else -1
        if end < 0:
            quoted.parts.append(line[pos:])
            return len(line)
        quoted.parts.append(line[pos:stop])
        quoted.text, quoted.closed, quoted.parts = decode("".join(quoted.parts)), True, []
        self._open = None
        return end + len(closer)

    def _end_statement(self, token: str, segment: str, number: int, out: list[str]) -> None:
        if token == ";" and self.delimiter != ";":
            self._code(segment + token, out)
            return
        self._code(segment, out)
        if COPY_HEAD.match(self._head) and COPY_TAIL.search(self._tail):
            self._count += 1
            name = f":q{self._count}"
            self._copy = self.values[name] = Quoted("copy", number)
            out.append(f" {name}")  # the statement ends at the block's closing line
        else:
            out.append(";")
        self._head = self._tail = ""

    def _copy_line(self, body: str, number: int) -> str:
        if body != "\\.":
            self._copy.rows.append((number, body))
            return ""
        self._copy.closed = True
        self._copy = None
        return ";"

    def _code(self, text: str, out: list[str]) -> None:
        out.append(text)
        if len(self._head) < HEAD_CHARS:
            self._head += text
        self._tail = (self._tail + text)[-TAIL_CHARS:]

    def _starts_statement(self) -> bool:
        return self._open is None and not self._comment and not self._head.strip()

    def _directive(self, line: str) -> bool:
        """Client commands that are not SQL: MySQL's DELIMITER, psql's backslash commands."""
        m = DELIMITER_LINE.match(line)
        if m and self.dialect == "mysql":
            self.delimiter = m.group(1)
            self._special = self._compile()
            self.directives["DELIMITER"] += 1
            return True
        if line.lstrip().startswith("\\") and self.dialect == "postgres":
            self.directives[line.split()[0]] += 1
            return True
        return False
