"""Regular expressions that cut a dump into statements and INSERT bodies into literals, per dialect.

Speed comes from letting the regex engine walk the text: one ``match`` consumes a whole
statement (runs of plain characters, quoted text, comments) up to its delimiter, so Python
runs once per statement, not once per character or token. No alternative matches a quote,
comment or dollar-quote that is not closed yet, so a statement cut off at the end of the
read buffer never matches: the caller reads more and tries again. The dialect itself is
guessed from marks in a dump's first characters, since the quoting rules decide where every
string ends.

Statement kinds: what a statement is, read from its first words, and whether a BEGIN ... END body is still open.

A statement's kind names it in the stats ("INSERT", "CREATE TRIGGER", "SET") and decides
whether it is ever run: only CREATE TABLE, INSERT, REPLACE and COPY are. MySQL wraps code
in version comments (``/*!50003 CREATE*/ /*!50017 DEFINER=...*/ /*!50003 TRIGGER``), so
their markers are read through as if absent, as MySQL itself does.
"""
from __future__ import annotations

import re
from functools import lru_cache

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


# Quoted text. MySQL escapes with backslashes (and doubles quotes); PostgreSQL with
# standard_conforming_strings on, and SQLite, only double them.
ESCAPED = r"'(?:[^'\\]++|\\.|'')*+'"
STANDARD = r"'(?:[^']++|'')*+'"
MYSQL_DQUOTE = r'"(?:[^"\\]++|\\.|"")*+"'
DQUOTE = r'"(?:[^"]++|"")*+"'
BACKTICK = r"`(?:[^`]++|``)*+`"
# E'...' (and, harmlessly, a typed literal such as DATE'...' read the same way).
E_LITERAL = r"[Ee]'(?:[^'\\]++|\\.|'')*+'"
# {n} names the tag's group: a pattern holding several copies needs a name for each.
DOLLAR = r"\$(?P<tag{n}>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag{n})\$"
BLOCK_COMMENT = r"/\*.*?\*/"
# Parentheses a row of a streamed VALUES list may nest: the row's own, CAST(... AS DECIMAL(10,2)).
ROW_DEPTH = 4


def _single(char: str, not_before: list[str], delimiter: str) -> str:
    """``char`` alone as code, unless what follows makes it a comment, a quote or the delimiter."""
    blocked = list(not_before)
    if delimiter[0] == char and len(delimiter) > 1:
        blocked.append(re.escape(delimiter[1:]))
    return re.escape(char) + (f"(?!{'|'.join(blocked)})" if blocked else "")


def _token(dialect: str, delimiter: str, backslashes: bool, stops: str = "", n: int = 0) -> str:
    """One piece of a statement: a run of plain code, quoted text, a comment, or a lone character
    that opens none of those. ``stops`` are characters that never match (a row's parentheses).

    ``backslashes``: PostgreSQL strings take backslash escapes (standard_conforming_strings off).
    Characters mapped to None below never stand alone: they open something that must close.
    """
    if dialect == "mysql":
        # MySQL needs a space after "--" for a comment: "1--1" is arithmetic.
        singles = {"/": [r"\*"], "-": [r"-\s"], "#": None, "'": None, '"': None, "`": None}
        parts = [ESCAPED, MYSQL_DQUOTE, BACKTICK, BLOCK_COMMENT, r"\#[^\n]*+", r"--(?=\s)[^\n]*+"]
    elif dialect == "postgres":
        singles = {"/": [r"\*"], "-": ["-"], "$": [r"(?:[A-Za-z_]\w*)?\$"], "E": ["'"], "e": ["'"],
                   "'": None, '"': None}
        parts = [E_LITERAL, ESCAPED if backslashes else STANDARD, DQUOTE, DOLLAR.format(n=n), BLOCK_COMMENT,
                 r"--[^\n]*+"]
    else:
        singles = {"/": [r"\*"], "-": ["-"], "'": None, '"': None, "`": None, "[": None}
        parts = [STANDARD, DQUOTE, BACKTICK, r"\[[^\]]*+\]", BLOCK_COMMENT, r"--[^\n]*+"]
    if delimiter[0] not in singles:
        # A one-character delimiter is never code; a longer one's first character may be.
        singles[delimiter[0]] = [] if len(delimiter) > 1 else None
    run = "[^" + "".join(re.escape(c) for c in [*singles, *stops]) + "]++"
    singles_code = [_single(c, after, delimiter) for c, after in singles.items()
                    if after is not None and c not in stops]
    return "|".join([run, *parts, *singles_code])


@lru_cache(maxsize=32)
def statement_pattern(dialect: str, delimiter: str = ";", backslashes: bool = False) -> re.Pattern:
    """Matches one statement from where it starts through ``delimiter``."""
    return re.compile(f"(?:{_token(dialect, delimiter, backslashes)})*+{re.escape(delimiter)}", re.S)


@lru_cache(maxsize=32)
def code_pattern(dialect: str, delimiter: str = ";", backslashes: bool = False) -> re.Pattern:
    """As much of a statement as is whole in the text, stopping at a parenthesis, the delimiter,
    or a quote or comment that does not close in the text (for passing over long statements)."""
    return re.compile(f"(?:{_token(dialect, delimiter, backslashes, '()')})*+", re.S)


@lru_cache(maxsize=32)
def row_patterns(dialect: str, delimiter: str = ";", backslashes: bool = False) -> tuple[re.Pattern, re.Pattern]:
    """(rows, row) of a VALUES list, parentheses nested up to ROW_DEPTH inside a row: ``rows``
    matches whole rows each followed by ","; ``row`` one row (group "row") and what follows it
    (group "next": "," or the delimiter, None for anything else)."""
    group = rf"\((?:{_token(dialect, delimiter, backslashes, '()', 0)})*+\)"
    for n in range(1, ROW_DEPTH):
        group = rf"\((?:{_token(dialect, delimiter, backslashes, '()', n)}|{group})*+\)"
    return (re.compile(rf"(?:\s*+{group}\s*+,)*+", re.S),
            re.compile(rf"\s*+(?P<row>{group})\s*+(?P<next>,|{re.escape(delimiter)})?", re.S))


@lru_cache(maxsize=8)
def literal_split(dialect: str, backslashes: bool = False) -> re.Pattern:
    """``split`` gives code, literal, code, literal, ...: the literals are strings and comments."""
    if dialect == "mysql":
        literals = [ESCAPED, MYSQL_DQUOTE, BLOCK_COMMENT, r"\#[^\n]*+", r"--\s[^\n]*+"]
    elif dialect == "postgres":
        literals = [r"(?<![\w$])" + E_LITERAL, ESCAPED if backslashes else STANDARD, BLOCK_COMMENT,
                    r"--[^\n]*+"]
    else:
        literals = [STANDARD, BLOCK_COMMENT, r"--[^\n]*+"]
    return re.compile(f"({'|'.join(literals)})", re.S)


# Whitespace and comments before a statement; MySQL runs /*!NNNNN ... */, so it is code there.
LEAD = {"mysql": re.compile(r"(?:\s++|--(?=\s)[^\n]*+|\#[^\n]*+|/\*(?!!).*?\*/)*+", re.S),
        "postgres": re.compile(r"(?:\s++|--[^\n]*+|/\*.*?\*/)*+", re.S),
        "sqlite": re.compile(r"(?:\s++|--[^\n]*+|/\*.*?\*/)*+", re.S)}
DELIMITER_LINE = re.compile(r"DELIMITER[ \t]++(\S++)[^\n]*+(?:\n|$)", re.I)
# COPY ... FROM stdin: its rows follow the statement, up to a line holding only "\.".
COPY_FROM_STDIN = re.compile(r"COPY\s.*?\sFROM\s+stdin\b(.*)", re.I | re.S)
COPY_END = re.compile(r"^\\\.\r?$", re.M)


# -- statement kinds ---------------------------------------------------------------------

CREATE_OBJECTS = {"TABLE", "INDEX", "VIEW", "TRIGGER", "FUNCTION", "PROCEDURE", "SEQUENCE", "DATABASE",
                  "SCHEMA", "EXTENSION", "TYPE", "DOMAIN", "EVENT", "RULE", "POLICY", "ROLE", "USER",
                  "AGGREGATE", "SERVER", "OPERATOR", "PUBLICATION", "SUBSCRIPTION", "COLLATION", "CAST"}
# Characters of a statement read to find its kind: enough for CREATE DEFINER=`a`@`b` SQL
# SECURITY INVOKER VIEW.
HEAD_CHARS = 400
# Words read after CREATE to find the object it makes.
CREATE_WORDS = 10
VERSION_MARKS = re.compile(r"/\*!\d*|\*/")
QUOTED = re.compile(r"`[^`]*`|\"[^\"]*\"|'[^']*'|\[[^\]]*\]")
WORD = re.compile(r"[A-Za-z_]+")
# Statements whose body may hold ";" between BEGIN and END when no DELIMITER was set.
BODY_KINDS = {"CREATE TRIGGER", "CREATE PROCEDURE", "CREATE FUNCTION", "CREATE EVENT"}
# END IF / END LOOP ... close their own openers, which are not counted either.
BLOCK_WORD = re.compile(r"\b(?:END\s+(CASE)|END\s+(?:IF|LOOP|WHILE|REPEAT|FOR)|(BEGIN|CASE)|(END))\b", re.I)


def classify(text: str) -> str:
    """The statement's first word in capitals, and for CREATE the object made (CREATE TRIGGER)."""
    first = WORD.match(text)
    if first is not None and first.group().upper() != "CREATE":
        return first.group().upper()   # the common case, without the full read below
    head = QUOTED.sub(" ", VERSION_MARKS.sub(" ", text[:HEAD_CHARS]))
    words = WORD.findall(head)
    if not words:
        return "OTHER"
    if words[0].upper() != "CREATE":
        return words[0].upper()
    for w in words[1:1 + CREATE_WORDS]:
        if w.upper() in CREATE_OBJECTS:
            return f"CREATE {w.upper()}"
    return "CREATE"


def open_blocks(text: str, dialect: str) -> int:
    """BEGIN and CASE openers not yet closed by END in ``text`` (quoted text and comments skipped)."""
    parts = literal_split(dialect).split(text)
    depth = 0
    for code in parts[0::2]:
        for m in BLOCK_WORD.finditer(code):
            if m.group(2):
                depth += 1
            elif m.group(1) or m.group(3):
                depth -= 1
    return depth
