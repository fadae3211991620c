"""Rows out of the loaded dump: a table in rowid order, or one read-only SELECT.

``--query`` must be a single SELECT (checked with sqlparse before the dump is loaded) and
runs under an authorizer that allows reading and calling functions, nothing else: no
writes, no ATTACH, no PRAGMA, no load_extension.
"""
from __future__ import annotations

import sqlite3
from typing import Iterator

import sqlparse

from prep.core.errors import StageError

# Result columns used when no column flag is given: record field -> column name.
NAMED_COLUMNS = ("text", "input", "output", "label")
# Functions a query may never call, even though reading is otherwise free.
FORBIDDEN_FUNCTIONS = {"load_extension"}


def check_query(query: str) -> str:
    """The query, if it is exactly one SELECT; a StageError that says what is wrong otherwise."""
    parts = [p for p in sqlparse.split(query) if p.strip().rstrip(";").strip()]
    if len(parts) != 1:
        raise StageError(f"--query takes one SELECT statement; got {len(parts)} statements")
    if sqlparse.parse(parts[0])[0].get_type() != "SELECT":
        first = sqlparse.format(parts[0], strip_comments=True).split()[0].upper()
        raise StageError(f"--query must be a SELECT (it runs read only); this one starts with {first}")
    return parts[0].strip().rstrip(";").strip()


def query_authorizer(action, arg1, arg2, db_name, trigger):
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() not in FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def query_rows(conn: sqlite3.Connection, query: str, tables: list[str]) -> tuple[Iterator, list[str]]:
    """(rows as (row number, {column: value}), column names) of the query, read-only."""
    conn.set_authorizer(query_authorizer)
    try:
        cursor = conn.execute(query)
    except sqlite3.Error as exc:
        raise StageError(f"--query failed: {exc}; tables in the dump: {', '.join(tables) or 'none'}") from exc
    finally:
        conn.set_authorizer(None)
    columns = [d[0] for d in cursor.description]
    rows = ((n, dict(zip(columns, row))) for n, row in enumerate(cursor, 1))
    return rows, columns


def table_rows(conn: sqlite3.Connection, table: str) -> Iterator:
    """(rowid, {column: value}) for every row of ``table``, in rowid order."""
    quoted = table.replace('"', '""')
    cursor = conn.execute(f'SELECT rowid, * FROM "{quoted}" ORDER BY rowid')
    columns = [d[0] for d in cursor.description[1:]]
    for row in cursor:
        yield row[0], dict(zip(columns, row[1:]))


def pick_columns(args, columns: list[str], table: str, is_query: bool) -> dict[str, str]:
    """Record field -> column name, from the flags or, when none is given, from column names."""
    asked = {"text": args.text_column, "input": args.input_column, "output": args.output_column,
             "label": args.label_column, "id": args.id_column}
    if asked["text"] and (asked["input"] or asked["output"]):
        raise StageError("give --text-column, or --input-column with --output-column, not both")
    if bool(asked["input"]) != bool(asked["output"]):
        raise StageError("--input-column and --output-column go together")
    by_lower = {c.lower(): c for c in columns}
    where = "the query's result" if is_query else f"table {table!r}"
    if not (asked["text"] or asked["input"]):
        named = {k: by_lower[k] for k in NAMED_COLUMNS if k in by_lower}
        if "input" in named and "output" in named:
            named.pop("text", None)
        elif "text" in named:
            named.pop("input", None)
            named.pop("output", None)
        else:
            raise StageError(f"no --text-column or --input-column/--output-column given, and {where} has "
                             f"no column named text, or input and output; columns: {', '.join(columns)}")
        asked.update({k: v for k, v in named.items() if not asked.get(k)})
    fields = {}
    for key, name in asked.items():
        if not name:
            continue
        if name.lower() not in by_lower:
            raise StageError(f"no column {name!r} in {where}; columns: {', '.join(columns)}")
        fields[key] = by_lower[name.lower()]
    return fields
