"""One statement's quoted text and comments taken out, so that sqlparse can read the rest safely.

Used for the few statements that are read token by token (CREATE TABLE, and INSERT forms
the fast way in inserts.py does not read). Dumps quote text in ways that differ by dialect
(MySQL backslash escapes, PostgreSQL E'...' and $tag$ strings, backticks): every quoted
token becomes a placeholder ``:qN`` whose decoded value waits in ``values``; comments
disappear (MySQL ``/*!NNNNN ...*/`` bodies are kept, since MySQL runs them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlparse import lexer
from sqlparse import tokens as T

from prep.extract.sql.quotes import E_STRING, QUOTES


@dataclass
class Quoted:
    """One quoted token, held aside while its statement is rewritten."""
    kind: str            # string | ident | dquote (MySQL "...": ident or string) | blob | bits
    line: int            # where it starts in the statement
    parts: list = field(default_factory=list)
    closed: bool = False
    text: str = ""       # the decoded value, once closed


# Code-state tokens worth stopping at, per dialect (quote openers come from QUOTES).
SPECIALS = {
    "mysql": r"/\*M?!\d*|\*/|/\*|--(?=\s|$)|#",
    "postgres": r"/\*|--|\$(?:[A-Za-z_]\w*)?\$",
    "sqlite": r"/\*|--",
}
# Letters glued to an opening quote: X'..' blob, B'..' bits, N'..' national, E'..' escapes,
# MySQL _charset'..' introducers.
PREFIX = re.compile(r"(?<![\w$])([EeNnXxBb]|_[A-Za-z0-9]+)$")


def tokens_of(text: str, dialect: str, backslashes: bool = False) -> tuple[list, dict]:
    """(significant sqlparse tokens, placeholder -> Quoted) of one statement's text."""
    scanner = Scanner(dialect, backslashes)
    code = "".join(scanner.feed(line, n) for n, line in enumerate(text.splitlines(keepends=True), 1))
    tokens = [(t, v) for t, v in lexer.tokenize(code) if not (t in T.Whitespace or t in T.Comment)]
    return tokens, scanner.values


class Scanner:
    """Feed lines in order; each call returns the line with quotes as placeholders, comments out."""

    def __init__(self, dialect: str, backslashes: bool = False):
        self.dialect = dialect
        self.quotes = dict(QUOTES[dialect])
        if backslashes:   # PostgreSQL with standard_conforming_strings off
            self.quotes["'"] = ("string", *E_STRING)
        self.values: dict[str, Quoted] = {}
        self._count = 0
        self._open: tuple | None = None        # (Quoted, body regex, closer, decoder)
        self._comment = False
        self._conditional = 0                  # open MySQL /*!NNNNN ... */ bodies
        self._special = re.compile("|".join([SPECIALS[dialect], *map(re.escape, self.quotes)]))

    def feed(self, line: str, number: int) -> str:
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
        return "".join(out).replace("\n", " ").replace("\r", " ")

    def _in_code(self, line: str, pos: int, number: int, out: list[str]) -> int:
        m = self._special.search(line, pos)
        if m is None:
            out.append(line[pos:])
            return len(line)
        token, segment = m.group(), line[pos:m.start()]
        if token in self.quotes or token.startswith("$"):
            self._start_quote(token, segment, number, out)
        elif token.startswith("/*") and "!" in token:
            out.append(segment + " ")
            self._conditional += 1
        elif token == "*/":
            out.append(segment + (" " if self._conditional else token))
            self._conditional = max(0, self._conditional - 1)
        elif token == "/*":
            out.append(segment + " ")
            self._comment = True
        else:   # -- or # comment: the rest of the line
            out.append(segment)
            return len(line)
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
        out.append(f"{segment} {name} ")
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
