"""PostgreSQL ``COPY name (columns) FROM stdin`` blocks: rows bound as parameters, by batch.

pg_dump writes each row as one line of tab-separated fields in COPY's text format (``\\N``
is NULL, backslash escapes as in E'...'). Rows of a batch go in with one executemany; when
one fails, the rows before it stay, the failing one is an error with its own line, and the
batch goes on after it.
"""
from __future__ import annotations

import re
import sqlite3

from prep.extract.sql.dialect import NotLoaded, ident
from prep.extract.sql.inserts import NAME, NAME_RE, unquote
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
        start = 0
        for i in range(1, len(item.rows) + 1):
            if i == len(item.rows) or item.rows[i].count("\t") != item.rows[start].count("\t"):
                self.run(item, start, i)
                start = i

    def run(self, item: CopyRows, start: int, end: int) -> None:
        """Rows start..end (all the same width) in one executemany; a failing row is skipped alone."""
        conn, report = self.loader.conn, self.loader.report
        batch = [fields(row) for row in item.rows[start:end]]
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
                self.loader.error(item.line + start + bad, f"COPY row failed: {exc}", item.rows[start + bad])
                done = bad + 1
