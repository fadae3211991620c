"""INSERTs run in dump order, consecutive ones into the same table joined into one, rows checked first.

Dumps written one row a statement (Chinook, many ORM and GUI exports) would cost a SQLite
parse and a Python round trip per row: consecutive INSERTs with the same head text (verb,
table, column list) are joined into one multi-row INSERT of up to BATCH_CHARS. A long INSERT
comes in batches of rows (stream.ValuesRows), joined the same way.

Before anything runs, the rows must be literals within the size limits (literals.py). When a
statement's VALUES list as a whole is not, it is cut into rows: each row that is not is
refused (an error with its own line, counted by reason) and the others go on. INSERT ...
SELECT and other forms without VALUES are never run (counted like other skipped statements).
When a joined or multi-row INSERT fails, SQLite has undone all of it: each statement, then
each of its rows, runs again alone, so the rows that are fine load and each failure is an
error with its own line.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from prep.extract.sql.dialect import DialectError, NotLoaded, rewrite_insert
from prep.extract.sql.inserts import InsertHead, read_head, rows_of, to_sqlite
from prep.extract.sql.literals import NOT_LITERAL, check_row, literal_values
from prep.extract.sql.quotes import tokens_of
from prep.extract.sql.split import Statement
from prep.extract.sql.stream import ValuesRows

# Characters of values joined into one INSERT (about 1 MB): few enough SQLite calls, and
# little to redo when one row is bad.
BATCH_CHARS = 1 << 20
HEAD_ENDS = frozenset(" \t\r\n(")


@dataclass
class Part:
    """Rows of one INSERT (or one batch of a long one) waiting to run."""
    st: Statement       # the statement (for a long one, its head alone)
    head: str           # its text up to and including VALUES
    line: int           # line of ``body``'s first character
    body: str           # the rows as the dump writes them
    dialect: str        # how ``body`` is written
    backslashes: bool   # PostgreSQL strings with backslash escapes (split.Splitter.backslashes)
    values: str         # the rows as SQLite reads them ("" when only row by row can tell); checked
    whole: bool = True  # the statement was read whole (not a batch of a long one)
    lines: bool = True  # ``body`` is the dump's text, whose line breaks count (not rendered SQL)
    counts: bool = True  # loading it counts one statement loaded
    rows: list | None = None   # [(line, row as SQLite reads it)], once cut into rows


@dataclass
class TokenHead:
    """The head of an INSERT read token by token (dialect.rewrite_insert), as InsertHead."""
    prefix: str
    table: str
    columns: list | None = None

    def sql(self, values: str) -> str:
        return f"{self.prefix} {values}"


class InsertBatcher:
    """Belongs to a Loader; ``add`` each INSERT, ``flush`` before anything else runs."""

    def __init__(self, loader):
        self.loader = loader
        self.last: tuple[str, InsertHead] | None = None   # the head text read last, and its reading
        self.head: InsertHead | TokenHead | None = None
        self.parts: list[Part] = []
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
            self.token_way(st, dialect, backslashes)
            return
        line = st.line + st.text.count("\n", 0, head.body_at)
        body = st.text[head.body_at:]
        self.queue(head, Part(st, st.text[:head.body_at], line, body, dialect, backslashes, values))

    def stream(self, item: ValuesRows, dialect: str, backslashes: bool) -> None:
        """One batch of rows of a long INSERT (see stream.py)."""
        head = self.read_head(item.head + " ")
        st = Statement(item.line, item.head, item.kind)
        try:
            values = to_sqlite(item.body, dialect, backslashes) or ""
        except DialectError:
            values = ""   # read row by row, each bad row an error of its own
        self.queue(head, Part(st, item.head, item.rows_line, item.body, dialect, backslashes, values,
                              whole=False, counts=item.first))

    def token_way(self, st: Statement, dialect: str, backslashes: bool) -> None:
        plan = rewrite_insert(*tokens_of(st.text, dialect, backslashes))
        if plan.values is None:
            raise NotLoaded(f"{st.kind} ... {plan.form or 'without VALUES'}")
        head = TokenHead(plan.sql[:len(plan.sql) - len(plan.values)].rstrip(), plan.table)
        self.queue(head, Part(st, st.text, st.line, plan.values, "sqlite", False, plan.values, lines=False))
        self.flush()

    def queue(self, head: InsertHead | TokenHead, part: Part) -> None:
        """Check the part's rows, then hold it for the next joined INSERT."""
        if self.head is not head or self.chars > BATCH_CHARS:
            self.flush()
            self.loader.ensure_table(part.st, head.table, head.columns)   # before cut(): EXPLAIN needs it
            self.head = head
        checked = literal_values(part.values, self.loader.limits) if part.values else None
        if checked is None:
            part.rows = self.cut(part, head)
            checked = ",".join(row for _, row in part.rows)
        if not checked:
            return   # every row was refused or failed
        part.values = checked
        self.parts.append(part)
        self.chars += len(checked)

    def cut(self, part: Part, head) -> list[tuple[int, str]]:
        """The part's rows that may load, as SQLite reads them. A row that is not literals within
        the limits is refused by line, unless it is not even SQL: then SQLite's own error says
        why (a syntax error, an unknown name), as for any row that fails."""
        found = rows_of(part.body, part.dialect, part.backslashes)
        rows, line, counted = [], part.line, 0
        for offset, row in found:
            if part.lines:
                line, counted = line + part.body.count("\n", counted, offset), offset
            try:
                sql = self.row_sql(part, row)
            except DialectError as exc:
                self.failed(part, line, exc, row, len(found))
                continue
            checked, why = check_row(sql, self.loader.limits)
            failure = None
            if why is not None and why[0] in NOT_LITERAL:
                failure = self.loader.compile_error(head.sql(sql))
            if failure is not None:
                self.failed(part, line, failure, row, len(found))
            elif why is not None:
                self.loader.refuse(line, part.st.kind, why, row)
            else:
                rows.append((line, checked))
        if not found:
            failure = self.loader.compile_error(head.sql(part.values or part.body))
            self.failed(part, part.line, failure or DialectError("no row in its VALUES"), part.body, 1)
        return rows

    def failed(self, part: Part, line: int, exc: Exception, row: str, rows: int) -> None:
        """A row that failed; a statement of one row read whole fails as a statement (file:line
        of the statement, and a hint when the dump ends inside it)."""
        if part.whole and rows == 1:
            self.loader.failed(part.st, exc)
        else:
            self.loader.error(line, f"{part.st.kind} row failed: {exc}", row)

    def row_sql(self, part: Part, row: str) -> str:
        """One row as SQLite reads it (token by token where the fast rewrite cannot)."""
        sql = to_sqlite(row, part.dialect, part.backslashes)
        if sql is None:
            plan = rewrite_insert(*tokens_of(f"{part.head} {row}", part.dialect, part.backslashes))
            sql = plan.values or ""
        return sql

    def flush(self) -> None:
        head, parts = self.head, self.parts
        self.head, self.parts, self.chars = None, [], 0
        if head is None or not parts:
            return
        try:
            self.loader.conn.execute(head.sql(",".join(part.values for part in parts)))
        except sqlite3.Error as exc:
            for part in parts:
                self.alone(head, part, exc if len(parts) == 1 else None)
            return
        for part in parts:
            self.loaded(part)

    def loaded(self, part: Part) -> None:
        if part.counts:
            self.loader.report.loaded[part.st.kind] += 1

    def alone(self, head, part: Part, failure: Exception | None) -> None:
        """One part on its own; when it fails, each of its rows on its own."""
        if failure is None:
            try:
                self.loader.conn.execute(head.sql(part.values))
                self.loaded(part)
                return
            except sqlite3.Error as exc:
                failure = exc
        rows = part.rows if part.rows is not None else self.cut(part, head)
        if len(rows) < 2 and part.whole:
            self.loader.failed(part.st, failure)
            return
        loaded = 0
        for line, row in rows:
            try:
                self.loader.conn.execute(head.sql(row))
                loaded += 1
            except sqlite3.Error as exc:
                self.loader.error(line, f"{part.st.kind} row failed: {exc}", row)
        if loaded:
            self.loaded(part)
