"""How each dump dialect quotes text, and how to read it back: escapes, doubled quotes, COPY fields.

Also the guess of a dump's dialect from its first characters, since the quoting rules decide
where every string ends.
"""
from __future__ import annotations

import re

# Characters read from the start of a dump to guess its dialect.
SNIFF_CHARS = 65536
DIALECT_MARKERS = {
    "mysql": (r"mysqldump|MySQL dump|MariaDB dump", r"ENGINE\s*=", r"/\*!\d{5}", r"`\w+`", r"\\'"),
    "postgres": (r"PostgreSQL database dump|pg_dump", r"standard_conforming_strings",
                 r"FROM stdin;", r"::[a-z]", r"\bpublic\.\w"),
    "sqlite": (r"PRAGMA foreign_keys\s*=\s*OFF", r"BEGIN TRANSACTION;", r"\bsqlite_sequence\b"),
}


def detect_dialect(head: str) -> str | None:
    """The dialect whose markers the start of the dump shows most; None where it shows none."""
    scores = {name: sum(bool(re.search(p, head, re.I)) for p in pats) for name, pats in DIALECT_MARKERS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] else None


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
