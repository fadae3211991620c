"""INSERTs run in dump order, consecutive ones into the same table joined into one.

Dumps written one row a statement (Chinook, many ORM and GUI exports) would cost a SQLite
parse and a Python round trip per row: consecutive INSERTs with the same head text (verb,
table, column list) are joined into one multi-row INSERT of up to BATCH_CHARS. When a
joined or multi-row INSERT fails, SQLite has undone all of it: each statement, then each of
its rows, runs again alone, so the rows that are fine load and each failure is an error
with its own line.
"""
from __future__ import annotations

import sqlite3

from prep.extract.sql.dialect import DialectError, rewrite_insert
from prep.extract.sql.inserts import InsertHead, read_head, rows_of, to_sqlite
from prep.extract.sql.scan import tokens_of
from prep.extract.sql.split import Statement

# Characters of values joined into one INSERT (about 1 MB): few enough SQLite calls, and
# little to redo when one row is bad.
BATCH_CHARS = 1 << 20
HEAD_ENDS = frozenset(" \t\r\n(")


class InsertBatcher:
    """Belongs to a Loader; ``add`` each INSERT, ``flush`` before anything else runs."""

    def __init__(self, loader):
        self.loader = loader
        self.last: tuple[str, InsertHead] | None = None   # the head text read last, and its reading
        self.head: InsertHead | None = None
        self.values: list[str] = []
        self.statements: list[tuple[Statement, str, bool]] = []
        self.chars = 0

    def read_head(self, text: str) -> InsertHead | None:
        """The head of ``text``, without the regex when it starts like the statement before."""
        if self.last is not None:
            key, head = self.last
            if text.startswith(key) and text[len(key):len(key) + 1] in HEAD_ENDS:
                return head
        head = read_head(text)
        if head is not None:
            self.last = (text[:head.body_at], head)
        return head

    def add(self, st: Statement, dialect: str, backslashes: bool) -> None:
        head = self.read_head(st.text)
        values = to_sqlite(st.text[head.body_at:], dialect, backslashes) if head else None
        if values is None:   # a form only the token-by-token way reads
            self.flush()
            plan = rewrite_insert(*tokens_of(st.text, dialect, backslashes))
            self.loader.ensure_table(st, plan.table, None)
            self.loader.conn.execute(plan.sql)
            self.loader.report.loaded[st.kind] += 1
            return
        if self.head is not head or self.chars > BATCH_CHARS:
            self.flush()
            self.loader.ensure_table(st, head.table, head.columns)
            self.head = head
        self.values.append(values)
        self.statements.append((st, dialect, backslashes))
        self.chars += len(values)

    def flush(self) -> None:
        head, values, statements = self.head, self.values, self.statements
        self.head, self.values, self.statements, self.chars = None, [], [], 0
        if head is None:
            return
        try:
            self.loader.conn.execute(head.sql(",".join(values)))
        except sqlite3.Error as exc:
            for (st, dialect, backslashes), one in zip(statements, values):
                self.alone(head, st, one, dialect, backslashes, exc if len(values) == 1 else None)
            return
        for st, _, _ in statements:
            self.loader.report.loaded[st.kind] += 1

    def alone(self, head: InsertHead, st: Statement, values: str, dialect: str, backslashes: bool,
              failure: Exception | None) -> None:
        """One statement on its own; when it fails, each of its rows on its own."""
        if failure is None:
            try:
                self.loader.conn.execute(head.sql(values))
                self.loader.report.loaded[st.kind] += 1
                return
            except sqlite3.Error as exc:
                failure = exc
        body = st.text[head.body_at:]
        rows = rows_of(body, dialect, backslashes)
        if len(rows) < 2:
            self.loader.failed(st, failure)
            return
        line, counted, loaded = st.line + st.text.count("\n", 0, head.body_at), 0, 0
        for offset, row in rows:
            line, counted = line + body.count("\n", counted, offset), offset
            try:
                self.loader.conn.execute(head.sql(to_sqlite(row, dialect, backslashes)))
                loaded += 1
            except (DialectError, sqlite3.Error) as exc:
                self.loader.error(line, f"{st.kind} row failed: {exc}", row)
        if loaded:
            self.loader.report.loaded[st.kind] += 1
