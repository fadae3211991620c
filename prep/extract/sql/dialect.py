"""MySQL and PostgreSQL statements rewritten as SQLite's, from sqlparse tokens: the slow, exact way.

The Scanner of quotes.py has already taken quoted text out as ``:qN`` placeholders, so the
tokens here are plain SQL. Used for CREATE TABLE (schema.py) and for the INSERT forms that
inserts.py does not read (schema prefixes, casts, MySQL modifiers and ``ON DUPLICATE KEY
UPDATE`` dropped).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlparse import tokens as T

from prep.extract.sql.quotes import Quoted

# Words that end a column's type and start its constraints or options.
COLUMN_STOP = {
    "NOT", "NULL", "NOT NULL", "DEFAULT", "PRIMARY", "PRIMARY KEY", "KEY", "UNIQUE", "AUTO_INCREMENT",
    "AUTOINCREMENT", "COMMENT", "COLLATE", "CHARSET", "REFERENCES", "CHECK", "ON", "GENERATED",
    "CONSTRAINT", "UNSIGNED", "SIGNED", "ZEROFILL", "AS", "STORED", "VIRTUAL", "INVISIBLE", "VISIBLE",
}
# First words of CREATE TABLE items that are keys, indexes or checks (never needed to read data).
TABLE_ITEMS_DROPPED = {"KEY", "INDEX", "UNIQUE", "UNIQUE KEY", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK",
                       "EXCLUDE", "PERIOD"}
SERIAL_TYPES = {"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL4", "SERIAL8", "SERIAL2"}
# Declared types whose SQLite affinity keeps the value as written (INTEGER, TEXT, BLOB, REAL,
# NUMERIC rules); anything else (json, uuid, date...) becomes TEXT so that "007" stays "007".
KEPT_TYPE = re.compile(r"INT|CHAR|CLOB|TEXT|BLOB|BINARY|REAL|FLOA|DOUB|DEC|NUM|BOOL", re.I)
DEFAULT_WORDS = {"NULL", "TRUE", "FALSE", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"}


class DialectError(ValueError):
    """A statement that should load but cannot be rewritten (counted as an error)."""


class NotLoaded(Exception):
    """A CREATE TABLE / COPY form that is skipped like any other statement: ``kind`` names it."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


@dataclass
class Plan:
    """What to run for one statement, the table it writes, and (CREATE TABLE) its column definitions.

    For an INSERT: ``form`` is the word after its table and column list (VALUES, SELECT, SET...)
    and ``values`` the VALUES list as SQLite reads it, the end of ``sql`` (None for other forms).
    """
    sql: str
    table: str
    columns: list | None = None
    form: str = ""
    values: str | None = None


def word(token) -> str:
    """A keyword or bare name in upper case (``NOT NULL`` with one space); '' for anything else."""
    ttype, value = token
    if ttype in T.Keyword or (ttype in T.Name and ttype is not T.Name.Placeholder):
        return " ".join(value.upper().split())
    return ""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(quoted: Quoted, as_string: bool) -> str:
    """A placeholder's SQLite spelling; MySQL "..." is a name or a string by position."""
    if not quoted.closed:
        raise DialectError(f"quoted text from line {quoted.line} never closes (is --dialect right?)")
    kind = quoted.kind
    if kind == "blob":
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})*", quoted.text):
            raise DialectError(f"bad hex literal X'{quoted.text[:20]}'")
        return f"X'{quoted.text}'"
    if kind == "bits":
        if not re.fullmatch(r"[01]*", quoted.text):
            raise DialectError(f"bad bit literal B'{quoted.text[:20]}'")
        return str(int(quoted.text or "0", 2))
    if kind == "ident" or (kind == "dquote" and not as_string):
        return ident(quoted.text)
    return "'" + quoted.text.replace("\x00", "").replace("'", "''") + "'"  # SQL text holds no NUL


def name_at(tokens: list, i: int, values: dict) -> tuple[str, int]:
    """A possibly qualified name (``public.t``, `` `db`.`t` ``): its last part and the next index."""
    name = None
    while i < len(tokens):
        ttype, value = tokens[i]
        if value in values:
            name = values[value].text
        elif word(tokens[i]):
            name = value
        else:
            break
        if i + 1 < len(tokens) and tokens[i + 1][1] == ".":
            i += 2
            continue
        return name, i + 1
    raise DialectError("expected a table name")


def group_end(tokens: list, i: int) -> int:
    """Index just past the parenthesis group that opens at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] in T.Punctuation else 0
        if depth == 0:
            return j + 1
    raise DialectError("unbalanced parentheses")


def split_items(tokens: list, start: int, end: int) -> list[list]:
    """The comma-separated items between ``tokens[start]`` = '(' and its match ``end - 1``."""
    items, current, depth = [], [], 0
    for token in tokens[start + 1:end - 1]:
        if token[0] in T.Punctuation and token[1] in "()":
            depth += 1 if token[1] == "(" else -1
        if depth == 0 and token[0] in T.Punctuation and token[1] == ",":
            items.append(current)
            current = []
        else:
            current.append(token)
    return [item for item in [*items, current] if item]


def render(tokens: list, values: dict, strings_from: int = 0) -> str:
    """Tokens back to SQLite text: placeholders as literals, casts and charset introducers out.

    MySQL "..." placeholders before ``strings_from`` are names, after it strings.
    """
    out, i = [], 0
    while i < len(tokens):
        ttype, value = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if value in values:
            out.append(literal(values[value], as_string=i >= strings_from))
        elif value == "::":
            i = skip_cast(tokens, i + 1)
            continue
        elif ttype is T.Number.Hexadecimal and not value.startswith("-"):
            digits = value[2:]
            out.append(f"X'{'0' * (len(digits) % 2)}{digits}'")
        elif re.fullmatch(r"_[A-Za-z0-9]+", value) and nxt in values:
            pass  # MySQL charset introducer: _binary 'abc', _utf8mb4 'abc'
        else:
            out.append(value)
        i += 1
    return " ".join(out)


def skip_cast(tokens: list, i: int) -> int:
    """Past a PostgreSQL cast's type: ``::character varying(20)[]``."""
    while i < len(tokens):
        if word(tokens[i]):
            i += 1
        elif tokens[i][1] == "(":
            i = group_end(tokens, i)
        elif tokens[i][1] in ("[", "]"):
            i += 1
        else:
            break
    return i


def rewrite_insert(tokens: list, values: dict) -> Plan:
    """INSERT [IGNORE] INTO name [(cols)] VALUES ...; REPLACE INTO ... likewise."""
    verb, i, conflict = word(tokens[0]), 1, ""
    while i < len(tokens) and word(tokens[i]) in ("IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "OR"):
        if word(tokens[i]) == "OR" and i + 1 < len(tokens):
            conflict, i = f" OR {word(tokens[i + 1])}", i + 2
        else:
            conflict, i = (" OR IGNORE" if word(tokens[i]) == "IGNORE" else conflict), i + 1
    if i < len(tokens) and word(tokens[i]) == "INTO":
        i += 1
    table, i = name_at(tokens, i, values)
    rest = [t for t in tokens[i:] if t[1] != ";"]
    words = [word(t) for t in rest]
    for k in range(len(rest) - 1):
        if words[k] == "ON" and words[k + 1] == "DUPLICATE":
            rest, words = rest[:k], words[:k]
            break
    for k in range(len(rest) - 2):   # pg_dump's, for an identity column: see inserts.OVERRIDING
        if words[k:k + 3] == ["OVERRIDING", "SYSTEM", "VALUE"]:
            rest, words = rest[:k] + rest[k + 3:], words[:k] + words[k + 3:]
            break
    rest = [(ttype, "VALUES") if w == "VALUE" else (ttype, value) for (ttype, value), w in zip(rest, words)]
    values_at = next((k for k, w in enumerate(words) if w in ("VALUE", "VALUES", "SELECT")), len(rest))
    after = group_end(rest, 0) if rest and rest[0][1] == "(" else 0   # past the column list
    form = word(rest[after]) if after < len(rest) else ""
    head = f"{verb}{conflict} INTO {ident(table)} {render(rest[:values_at + 1], values, values_at)}"
    body = render(rest[values_at + 1:], values, 0)
    return Plan(f"{head} {body}", table, form=form, values=body if form == "VALUES" else None)
