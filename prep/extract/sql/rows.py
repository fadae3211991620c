"""Rows in and out of the in-memory database: COPY data loaded by batch, rows read back for records.

In: pg_dump writes each row of a ``COPY name (columns) FROM stdin`` block as one line of
tab-separated fields in COPY's text format (``\\N`` is NULL, backslash escapes as in E'...').
Rows over --max-row-bytes or --max-cell-bytes are refused by line; the others of a batch go
in with one executemany, bound as parameters; when one fails, the rows before it stay, the
failing one is an error with its own line, and the batch goes on after it.

Out: a table in rowid order, or one read-only SELECT. ``--query`` must be a single SELECT
(checked with sqlparse before the dump is loaded) and runs under an authorizer that allows
reading and calling functions, nothing else: no writes, no ATTACH, no PRAGMA, no
load_extension.
"""
from __future__ import annotations

import re
import sqlite3
from typing import Iterator

import sqlparse

from prep.core.errors import StageError
from prep.extract.sql.dialect import NotLoaded, ident
from prep.extract.sql.inserts import NAME, NAME_RE, unquote
from prep.extract.sql.literals import within
from prep.extract.sql.quotes import decode_copy_field
from prep.extract.sql.split import CopyRows, Statement

COPY_HEAD = re.compile(rf"COPY\s+({NAME}(?:\s*\.\s*{NAME})*)\s*(?:\(([^)]*)\))?\s*FROM\s+stdin\b\s*(.*)",
                       re.I | re.S)


class CopyTarget:
    """The table a COPY block fills, and the INSERT each row width runs as."""

    def __init__(self, table: str, columns: list | None):
        self.table, self.columns = table, columns
        self.templates: dict[int, str] = {}

    def sql(self, width: int) -> str:
        if width not in self.templates:
            names = f" ({', '.join(map(ident, self.columns))})" if self.columns is not None else ""
            self.templates[width] = f"INSERT INTO {ident(self.table)}{names} VALUES ({', '.join('?' * width)})"
        return self.templates[width]


def fields(row: str) -> list:
    """One COPY text-format row: tab-separated, ``\\N`` NULL, escapes decoded only where present."""
    if row.endswith("\r"):
        row = row[:-1]
    if "\\" not in row:
        return row.split("\t")
    return [None if f == "\\N" else decode_copy_field(f) if "\\" in f else f for f in row.split("\t")]


class CopyLoader:
    """Belongs to a Loader: reads COPY heads, then the rows that follow them."""

    def __init__(self, loader):
        self.loader = loader
        self.target: CopyTarget | None = None
        self.head_line = 0

    def head(self, st: Statement, dialect: str, backslashes: bool) -> None:
        m = COPY_HEAD.match(st.text)
        if m is None:
            raise NotLoaded("COPY")   # COPY ... TO stdout, FROM 'file': never run
        if m.group(3).strip():
            raise NotLoaded("COPY WITH OPTIONS")   # CSV and binary formats read differently
        table = unquote(NAME_RE.findall(m.group(1))[-1])
        columns = [unquote(n) for n in NAME_RE.findall(m.group(2))] if m.group(2) is not None else None
        self.loader.ensure_table(st, table, columns)
        self.target, self.head_line = CopyTarget(table, columns), st.line

    def rows(self, item: CopyRows) -> None:
        report = self.loader.report
        if item.closed is False:
            self.loader.error(self.head_line, "COPY data has no closing \\. line (a truncated dump?)")
        if self.target is None:
            report.skipped["COPY rows"] += len(item.rows)   # their COPY was not loaded
            return
        rows = self.within_limits(item)
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i][1].count("\t") != rows[start][1].count("\t"):
                self.run(rows[start:i])
                start = i

    def within_limits(self, item: CopyRows) -> list[tuple[int, str]]:
        """(line, row) of each row within --max-row-bytes and --max-cell-bytes; the others refused."""
        limits = self.loader.limits
        quick, rows = limits.quick(), []
        for i, row in enumerate(item.rows):
            why = within(row, limits, row.split("\t")) if len(row) > quick else None
            if why is None:
                rows.append((item.line + i, row))
            else:
                self.loader.refuse(item.line + i, "COPY", why, row)
        return rows

    def run(self, rows: list[tuple[int, str]]) -> None:
        """Rows (all the same width) in one executemany; a failing row is skipped alone."""
        conn, report = self.loader.conn, self.loader.report
        batch = [fields(row) for _, row in rows]
        sql = self.target.sql(len(batch[0]))
        done = 0
        while done < len(batch):
            before = conn.total_changes
            try:
                conn.executemany(sql, batch[done:])
                report.loaded["COPY rows"] += len(batch) - done
                return
            except sqlite3.Error as exc:
                bad = done + conn.total_changes - before
                report.loaded["COPY rows"] += bad - done
                self.loader.error(rows[bad][0], f"COPY row failed: {exc}", rows[bad][1])
                done = bad + 1


# -- rows out: records from a table or a query -----------------------------------------

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
