"""INSERT ... VALUES rewritten for SQLite without tokenizing the values.

A dump's bulk is ``INSERT INTO t VALUES (...),(...)``. The head (verb, table, column list)
is read with one regex; the values go to SQLite as written wherever SQLite reads them the
same way, so SQLite's own parser does the work. Only what differs is rewritten: MySQL
backslash escapes and "..." strings, 0x... hex, _charset introducers, N'..' and B'..'
prefixes, version comments (``/*!50705 0x...,*/``, whose body MySQL runs), ON DUPLICATE KEY
UPDATE tails; PostgreSQL E'...' strings and ::casts. A head this regex does not read
(INSERT ... SELECT, INSERT ... SET) or dollar-quoted values return None: the caller takes the
token-by-token way of dialect.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from prep.extract.sql.dialect import DialectError, ident
from prep.extract.sql.patterns import literal_split
from prep.extract.sql.quotes import decode_e_string, mysql_fast_decoder

# pg_dump --inserts writes this before VALUES for a GENERATED ALWAYS identity column; the
# values it names are the dump's own, which is what SQLite stores without it.
OVERRIDING = r"(?:OVERRIDING\s+SYSTEM\s+VALUE\s+)?"
NAME = r"(?:`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|\[[^\]]+\]|[\w$]+)"
HEAD = re.compile(
    rf"(INSERT|REPLACE)((?:\s+(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE|OR\s+[A-Za-z]+))*)\s+"
    rf"(?:INTO\s+)?({NAME}(?:\s*\.\s*{NAME})*)\s*"
    rf"(?:\(((?:[^()'\"`]|`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\")*)\))?\s*{OVERRIDING}VALUES?(?=[\s(])", re.I | re.S)
NAME_RE = re.compile(NAME)
# Code that SQLite reads differently from the dump's dialect ("\x00" stands where a literal was).
CODE_FIX = {"mysql": re.compile(r"0[xX][0-9A-Fa-f]|(?<![\w$])(?:[NnBb]|_[A-Za-z0-9]+\s*)\x00"),
            "postgres": re.compile(r"::|(?<![\w$])[NnBb]\x00")}
HEX = re.compile(r"(?<![\w.])0[xX]([0-9A-Fa-f]+)\b")
CAST = re.compile(r"::\s*(?:\"[^\"]*\"|[A-Za-z_][\w.]*)(?:\s+(?:varying|precision|with|without|time|zone))*"
                  r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\s*\[\s*\d*\s*\])*", re.I)
PREFIX = re.compile(r"(?<![\w$])(?:([NnBb])|_[A-Za-z0-9]+\s*)$")
ON_DUPLICATE = re.compile(r"\bON\s+DUPLICATE\s+KEY\s+UPDATE\b", re.I)
COMMENT_LITERAL = re.compile(r"\x00(?:/\*|#|--)")
# Text in a raw VALUES list that may need rewriting, found with plain substring tests (a
# regex alternation scans ten times slower); a list with none of it goes to SQLite unsplit.
MAYBE_FIX = {"mysql": ("\\", '"', "#", "/*", "--", "0x", "0X", "UPLICATE", "uplicate"),
             "postgres": ("\\", "$", "::", "/*", "--")}
PREFIXES = {"mysql": ("N'", "n'", "B'", "b'"), "postgres": ("E'", "e'", "N'", "n'", "B'", "b'")}
PREFIXED = re.compile(r"[\s,(][EeNnBb]'")
INTRODUCER = re.compile(r"(?<![\w$])_[A-Za-z0-9]+\s*'")
HEX_INTRODUCER = re.compile(r"(?<![\w$])_[A-Za-z0-9]+\s*(?=0[xX])")   # _binary 0x...: the bytes alone
ROW_MARK = re.compile(r"[()]|[^\s(),]")   # parentheses, and at depth 0 anything but a separator
VERSION_COMMENT = re.compile(r"/\*!\d*(.*?)\*/", re.S)
MYSQL_STRING, MYSQL_DQUOTED = mysql_fast_decoder("'"), mysql_fast_decoder('"')


@dataclass
class InsertHead:
    table: str
    columns: list | None
    verb: str           # INSERT, INSERT OR IGNORE, REPLACE ...
    body_at: int        # where the values start in the statement's text

    def sql(self, values: str) -> str:
        names = f" ({', '.join(map(ident, self.columns))})" if self.columns is not None else ""
        return f"{self.verb} INTO {ident(self.table)}{names} VALUES {values}"


def unquote(name: str) -> str:
    if name[0] in "`\"" and len(name) > 1:
        return name[1:-1].replace(name[0] * 2, name[0])
    return name[1:-1] if name[0] == "[" else name


def read_head(text: str) -> InsertHead | None:
    """The INSERT's verb, table and column list; None for forms the fast way does not read."""
    m = HEAD.match(text)
    if m is None:
        return None
    verb, modifiers = m.group(1).upper(), " ".join(m.group(2).upper().split())
    if "IGNORE" in modifiers.split():
        verb += " OR IGNORE"
    elif modifiers.startswith("OR "):
        verb += " " + modifiers
    table = unquote(NAME_RE.findall(m.group(3))[-1])
    columns = [unquote(n) for n in NAME_RE.findall(m.group(4))] if m.group(4) is not None else None
    return InsertHead(table, columns, verb, m.end())


def to_sqlite(body: str, dialect: str, backslashes: bool = False) -> str | None:
    """The VALUES list as SQLite reads it; None where only the token-by-token way can read it."""
    if dialect == "sqlite" or untouched(body, dialect):
        return body
    if "\x00" in body:
        raise DialectError("the statement holds a NUL character")
    parts = literal_split(dialect, backslashes).split(body)
    code = "\x00".join(parts[0::2])
    literals = "\x00" + "\x00".join(parts[1::2])
    if dialect == "postgres" and "$" in code:
        return None
    if COMMENT_LITERAL.search(literals):
        return to_sqlite(without_comments(parts), dialect, backslashes)
    if dialect == "mysql" and ON_DUPLICATE.search(code):
        parts = before_on_duplicate(parts)
    if CODE_FIX[dialect].search(code):
        fix_code(parts, dialect)
    if "\\" in literals or '\x00"' in literals or "\x00E'" in literals or "\x00e'" in literals:
        fix_strings(parts, dialect, backslashes)
    return "".join(parts)


def untouched(body: str, dialect: str) -> bool:
    """Whether SQLite reads ``body`` exactly as the dump's dialect does (no escapes, casts, hex...)."""
    if any(needle in body for needle in MAYBE_FIX[dialect]):
        return False
    if any(prefix in body for prefix in PREFIXES[dialect]) and PREFIXED.search(body):
        return False
    return dialect != "mysql" or "_" not in body or INTRODUCER.search(body) is None


def without_comments(parts: list[str]) -> str:
    """Comments out; a MySQL version comment's body in, since MySQL runs it."""
    for i in range(1, len(parts), 2):
        p = parts[i]
        if p.startswith(("/*", "#", "--")):
            m = VERSION_COMMENT.fullmatch(p)
            parts[i] = f" {m.group(1)} " if m else " "
    return "".join(parts)


def before_on_duplicate(parts: list[str]) -> list[str]:
    for i in range(0, len(parts), 2):
        m = ON_DUPLICATE.search(parts[i])
        if m:
            return [*parts[:i], parts[i][:m.start()]]
    return parts


def fix_code(parts: list[str], dialect: str) -> None:
    """Hex numbers, casts and literal prefixes as SQLite spells them (in place)."""
    for i in range(0, len(parts), 2):
        code = parts[i]
        m = PREFIX.search(code) if i + 1 < len(parts) else None
        if m is not None:
            code = code[:m.start()]
            if m.group(1) in ("B", "b"):
                parts[i + 1] = bits(parts[i + 1])
        code = HEX.sub(lambda h: f"X'{'0' * (len(h.group(1)) % 2)}{h.group(1)}'", HEX_INTRODUCER.sub("", code))
        parts[i] = CAST.sub("", code) if dialect == "postgres" else code


def bits(literal: str) -> str:
    digits = literal[1:-1]
    if not re.fullmatch(r"[01]*", digits):
        raise DialectError(f"bad bit literal B{literal[:24]}")
    return str(int(digits or "0", 2))


def fix_strings(parts: list[str], dialect: str, backslashes: bool) -> None:
    """Strings with escapes decoded and quoted again the SQLite way (in place)."""
    for i in range(1, len(parts), 2):
        p = parts[i]
        if dialect == "mysql" and ("\\" in p or p[0] == '"'):
            text = (MYSQL_STRING if p[0] == "'" else MYSQL_DQUOTED)(p[1:-1])
        elif dialect == "postgres" and (p[0] in "Ee" or (backslashes and "\\" in p)):
            text = decode_e_string(p[1 + (p[0] in "Ee"):-1])
        else:
            continue
        parts[i] = "'" + text.replace("\x00", "").replace("'", "''") + "'"


def rows_of(body: str, dialect: str, backslashes: bool = False) -> list[tuple[int, str]]:
    """Each top-level (...) of a VALUES list: (offset in ``body``, its text). A word between rows
    ends the list: what follows (ON DUPLICATE KEY UPDATE a = VALUES(a)) holds no rows."""
    parts = literal_split(dialect, backslashes).split(body)
    rows, depth, start, pos = [], 0, 0, 0
    for i, part in enumerate(parts):
        if i % 2 == 0:
            for m in ROW_MARK.finditer(part):
                if m.group() == "(":
                    start = pos + m.start() if depth == 0 else start
                    depth += 1
                elif m.group() == ")" and depth > 0:
                    depth -= 1
                    if depth == 0:
                        rows.append((start, body[start:pos + m.end()]))
                elif m.group() not in "()" and depth == 0 and rows:
                    return rows
        pos += len(part)
    return rows
