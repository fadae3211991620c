"""How each dump dialect quotes text, how to read it back, and one statement's quoted text taken out.

The decoders undo escapes and doubled quotes (MySQL backslashes, PostgreSQL E'...' and COPY
fields). The Scanner serves the few statements read token by token (CREATE TABLE, and INSERT
forms the fast way in inserts.py does not read): every quoted token becomes a placeholder
``:qN`` whose decoded value waits in ``values``, so that sqlparse can read the rest safely;
comments disappear (MySQL ``/*!NNNNN ...*/`` bodies are kept, since MySQL runs them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlparse import lexer
from sqlparse import tokens as T

MYSQL_ESCAPES = {"0": "", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}
C_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def mysql_decoder(quote: str):
    """Reads the body of a MySQL string quoted with ``quote``: backslash escapes, doubled quotes.

    NUL (\\0) is dropped: SQL text handed to SQLite cannot hold one, and it is never wanted in text.
    """
    pattern = re.compile(r"\\(.)|" + quote * 2, re.S)
    return lambda raw: pattern.sub(lambda m: quote if m.group(1) is None
                                   else MYSQL_ESCAPES.get(m.group(1), m.group(1)), raw)


# The escapes mysqldump writes, undone with str.replace (no Python call per escape).
COMMON_ESCAPES = (("\\'", "'"), ('\\"', '"'), ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"))


def mysql_fast_decoder(quote: str):
    """Same result as mysql_decoder(quote), faster on text full of escapes.

    Cut at escaped backslashes first; then every backslash left starts an escape, so the
    common ones are plain replacements and only a piece with a rare one needs the regex.
    """
    slow = mysql_decoder(quote)

    def decode(raw: str) -> str:
        pieces = raw.split("\\\\")
        for i, piece in enumerate(pieces):
            if "\\" not in piece:
                pieces[i] = piece.replace(quote * 2, quote)
            elif quote * 2 in piece:
                pieces[i] = slow(piece)   # an escaped quote beside a doubled one: read in order
            else:
                for escaped, char in COMMON_ESCAPES:
                    piece = piece.replace(escaped, char)
                pieces[i] = slow(pieces[i]) if "\\" in piece else piece
        return "\\".join(pieces)
    return decode


def _doubled(quote: str):
    return lambda raw: raw.replace(quote * 2, quote)


def _c_escape(m: re.Match) -> str:
    body = m.group(1)
    if body[0] in "xuU" or body[0].isdigit():
        code = int(body[1:], 16) if body[0] in "xuU" else int(body, 8)
        # NUL is dropped (see mysql_decoder); a surrogate or out-of-range code point is no character.
        if code == 0:
            return ""
        return "\ufffd" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else chr(code)
    return C_ESCAPES.get(body, body)


_E_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{1,3}|.)", re.S)


def decode_e_string(raw: str) -> str:
    """PostgreSQL E'...': C-style backslash escapes and doubled quotes."""
    return _E_ESCAPE.sub(_c_escape, raw.replace("''", "'"))


def decode_copy_field(raw: str) -> str | None:
    r"""One field of a COPY text-format row: \N is NULL, backslash escapes as in E'...'.

    As in mysql_fast_decoder: cut at escaped backslashes, undo \n \t \r by replacement, and
    only a piece with a rarer escape (octal, \x.., \b ...) goes through the regex.
    """
    if raw == "\\N":
        return None
    pieces = raw.split("\\\\")
    for i, piece in enumerate(pieces):
        if "\\" in piece:
            decoded = piece.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
            pieces[i] = _E_ESCAPE.sub(_c_escape, piece) if "\\" in decoded else decoded
    return "\\".join(pieces)


# Per dialect: opener -> (kind, body pattern up to the closer, decoder). Bodies run across lines.
def _body(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.S)


ESCAPED_STRING = (_body(r"(?:[^'\\]|\\.|'')*"), mysql_decoder("'"))
STANDARD_STRING = (_body(r"(?:[^']|'')*"), _doubled("'"))
E_STRING = (ESCAPED_STRING[0], decode_e_string)
DOUBLE_QUOTED = (_body(r'(?:[^"]|"")*'), _doubled('"'))
BACKTICKED = (_body(r"(?:[^`]|``)*"), _doubled("`"))
QUOTES = {
    "mysql": {"'": ("string", *ESCAPED_STRING),
              '"': ("dquote", _body(r'(?:[^"\\]|\\.|"")*'), mysql_decoder('"')),
              "`": ("ident", *BACKTICKED)},
    "postgres": {"'": ("string", *STANDARD_STRING), '"': ("ident", *DOUBLE_QUOTED)},
    "sqlite": {"'": ("string", *STANDARD_STRING), '"': ("ident", *DOUBLE_QUOTED), "`": ("ident", *BACKTICKED)},
}


# -- one statement's quoted text taken out -------------------------------------------

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
