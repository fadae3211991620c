"""CREATE TABLE from a MySQL or PostgreSQL dump, rebuilt as the SQLite table that holds its rows.

Only what reading the rows needs survives: column names, a type that keeps values as written,
NOT NULL, simple DEFAULTs and the PRIMARY KEY. Keys, indexes, foreign keys, checks, engine
and charset options, comments and partitions are dropped rather than translated: the table
is read once, never queried for speed or kept consistent.
"""
from __future__ import annotations

from sqlparse import tokens as T

from prep.extract.sql.dialect import (
    COLUMN_STOP,
    DEFAULT_WORDS,
    KEPT_TYPE,
    SERIAL_TYPES,
    TABLE_ITEMS_DROPPED,
    DialectError,
    NotLoaded,
    Plan,
    group_end,
    ident,
    literal,
    name_at,
    split_items,
    word,
)


def rewrite_create(tokens: list, values: dict, known: dict | None = None) -> Plan:
    """CREATE [TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] name (items) options -> SQLite's.

    ``known`` maps the lower-case names of tables made so far to their column definitions,
    for PostgreSQL's ``INHERITS (parent)``, whose columns come first.
    """
    i = next(k for k, t in enumerate(tokens) if word(t) == "TABLE") + 1
    while i < len(tokens) and word(tokens[i]) in ("IF NOT EXISTS", "IF", "NOT", "EXISTS"):
        i += 1
    table, i = name_at(tokens, i, values)
    if i >= len(tokens) or tokens[i][1] != "(":
        raise NotLoaded("CREATE TABLE AS")  # AS SELECT / LIKE: copies of other tables
    end = group_end(tokens, i)
    columns, keys = inherited(tokens, end, values, known or {}), []
    for item in split_items(tokens, i, end):
        first = word(item[0])
        if first in TABLE_ITEMS_DROPPED:
            continue
        if first in ("PRIMARY KEY", "PRIMARY", "CONSTRAINT"):
            keys += filter(None, [primary_key(item, values)])
        else:
            columns.append(column(item, values))
    if not columns:
        raise DialectError(f"CREATE TABLE {table} has no columns")
    if any("PRIMARY KEY" in c for c in columns):
        keys = []   # SQLite takes one primary key; the column's own comes first
    return Plan(f"CREATE TABLE {ident(table)} ({', '.join(columns + keys[:1])})", table, columns)


def inherited(tokens: list, end: int, values: dict, known: dict) -> list[str]:
    """Column definitions of the parents named by ``INHERITS (a, b)`` after the column list."""
    at = next((k for k in range(end, len(tokens) - 1) if word(tokens[k]) == "INHERITS"), None)
    if at is None or tokens[at + 1][1] != "(":
        return []
    columns = []
    for part in split_items(tokens, at + 1, group_end(tokens, at + 1)):
        parent = name_at(part, 0, values)[0]
        if parent.lower() not in known:
            raise DialectError(f"INHERITS {parent}: no such table made before this one")
        columns += [c for c in known[parent.lower()] if c not in columns]
    return columns


def primary_key(item: list, values: dict) -> str | None:
    """``[CONSTRAINT x] PRIMARY KEY (a, b(10))`` -> ``PRIMARY KEY ("a", "b")``; None otherwise."""
    words = [word(t) for t in item]
    start = next((k for k in range(1, len(item)) if item[k][1] == "(" and (
        words[k - 1] == "PRIMARY KEY" or words[k - 2:k] == ["PRIMARY", "KEY"])), None)
    if start is None:
        return None
    names = [name_at(part, 0, values)[0] for part in split_items(item, start, group_end(item, start))]
    return f"PRIMARY KEY ({', '.join(map(ident, names))})"


def column(item: list, values: dict) -> str:
    """One column definition: name, a SQLite type, then NOT NULL / DEFAULT / PRIMARY KEY."""
    name, j = name_at(item, 0, values)
    type_words, args, holds_strings = [], "", False
    while j < len(item):
        w = word(item[j])
        if item[j][1] == "(" and type_words:
            end = group_end(item, j)
            inner = [t[1] for t in item[j + 1:end - 1]]
            holds_strings = any(v in values for v in inner)  # enum('a','b'), set(...)
            args = "(" + "".join(inner) + ")"
            j = end
            break
        if not w or w in COLUMN_STOP or (w == "CHARACTER" and j + 1 < len(item)
                                         and word(item[j + 1]) == "SET"):
            break
        type_words.append(item[j][1])
        j += 1
    constraints, auto = constraints_of(item[j:], values)
    declared = " ".join(type_words) + args
    if auto or any(w.upper() in SERIAL_TYPES for w in type_words):
        declared = "INTEGER"  # an auto-numbered key: INTEGER PRIMARY KEY makes it the rowid
    elif holds_strings or (declared and not KEPT_TYPE.search(declared)):
        declared = "TEXT"
    return " ".join(filter(None, [ident(name), declared, *constraints]))


def constraints_of(rest: list, values: dict) -> tuple[list[str], bool]:
    """The column options SQLite needs to read the data back; whether it was AUTO_INCREMENT."""
    kept, auto = [], False
    for k, token in enumerate(rest):
        w = word(token)
        if w in ("NOT NULL", "PRIMARY KEY"):
            kept.append(w)
        elif w == "NOT" and k + 1 < len(rest) and word(rest[k + 1]) == "NULL":
            kept.append("NOT NULL")
        elif w in ("AUTO_INCREMENT", "AUTOINCREMENT", "IDENTITY"):
            auto = True
        elif w == "DEFAULT" and k + 1 < len(rest):
            value = default_value(rest, k + 1, values)
            if value is not None:
                kept.append(f"DEFAULT {value}")
    return kept, auto


def default_value(rest: list, k: int, values: dict) -> str | None:
    """A DEFAULT that is a constant (number, string, NULL, CURRENT_TIMESTAMP...); None otherwise."""
    ttype, value = rest[k]
    if value in values:
        return literal(values[value], as_string=True)
    if ttype in T.Number:
        return value
    if value == "-" and k + 1 < len(rest) and rest[k + 1][0] in T.Number:
        return "-" + rest[k + 1][1]
    if word(rest[k]) in DEFAULT_WORDS:
        return word(rest[k])
    return None
