"""Loading SQL dumps into an in-memory SQLite database: CREATE TABLE and row inserts, nothing else.

Dumps are read in the order given (a schema file, then data-only files), each cut into
statements by split.py. CREATE TABLE is rebuilt token by token (schema.py); INSERT goes the
fast way (inserts.py) or, for unusual forms, token by token (dialect.py); COPY rows go in by
batch (rows.py). An INSERT or COPY into a table no CREATE TABLE made yet makes it from
its column list. Every other statement (ATTACH, PRAGMA, DROP, UPDATE, triggers, procedures,
SELECT...) is counted by kind and never executed, and so is INSERT ... SELECT. A row loads only
when it is literals within --max-row-bytes and --max-cell-bytes (literals.py); any other row
is refused, counted by reason, and an error with its file:line. An authorizer on the
connection refuses anything else that might slip through: no function runs, nothing is read.
"""
from __future__ import annotations

import gzip
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prep.core.stage import progress
from prep.extract.sql.batch import InsertBatcher
from prep.extract.sql.dialect import DialectError, NotLoaded, ident
from prep.extract.sql.inserts import NAME, unquote
from prep.extract.sql.literals import Limits
from prep.extract.sql.patterns import SNIFF_CHARS, detect_dialect
from prep.extract.sql.quotes import tokens_of
from prep.extract.sql.rows import CopyLoader
from prep.extract.sql.schema import rewrite_create
from prep.extract.sql.split import CopyRows, Splitter, Statement
from prep.extract.sql.stream import TooLong, ValuesRows

# Characters of a failed statement kept in the rejects file.
PREVIEW_CHARS = 300
# The name a CREATE VIEW defines (MySQL writes "/*!50001 VIEW `name` AS"): the last part of a
# schema-qualified name is the one --table would be asked for.
VIEW_NAME = re.compile(rf"\bVIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{NAME}\s*\.\s*)*({NAME})", re.I)
SCHEMA_TABLES = ("sqlite_master", "sqlite_schema")


@dataclass
class LoadReport:
    dialects: dict = field(default_factory=dict)        # dump file -> dialect it was read as
    skipped: Counter = field(default_factory=Counter)   # kind -> statements never executed
    loaded: Counter = field(default_factory=Counter)    # kind -> statements (COPY: rows) loaded
    errors: list = field(default_factory=list)          # (file:line, message, preview)
    refused: Counter = field(default_factory=Counter)   # why -> rows refused (also in errors)
    made: dict = field(default_factory=dict)            # table -> file:line of the column list it came from
    views: dict = field(default_factory=dict)           # view name (lower case) -> file:line, never created


def load_authorizer(action, arg1, arg2, db_name, trigger):
    """While loading rows: insert into tables of ``main``, nothing else: no function is called
    (sqlite3 .dump's replace() and unistr() are read by literals.py), no table but the schema
    is read (and no statement that reads it, INSERT ... SELECT, gets here: batch.py)."""
    if db_name not in (None, "main"):
        return sqlite3.SQLITE_DENY
    if action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_READ) and arg1 in SCHEMA_TABLES:
        # CREATE TABLE records itself in the schema table; SQLite itself refuses a
        # statement that writes there directly.
        return sqlite3.SQLITE_OK
    if action in (sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_INSERT):
        return sqlite3.SQLITE_DENY if str(arg1).lower().startswith("sqlite_") else sqlite3.SQLITE_OK
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION):
        return sqlite3.SQLITE_OK   # multi-row VALUES runs as a SELECT; the implicit BEGIN
    return sqlite3.SQLITE_DENY


def schema_authorizer(action, arg1, arg2, db_name, trigger):
    """While running a CREATE TABLE this loader wrote itself: the table and its primary-key index.

    A PRIMARY KEY that is not the rowid gets an automatic index, which SQLite builds by reading
    the (new, empty) table; the SQL holds no expression that could read anything else.
    """
    if db_name not in (None, "main"):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_CREATE_INDEX:
        return sqlite3.SQLITE_OK if str(arg1).startswith("sqlite_autoindex_") else sqlite3.SQLITE_DENY
    if action in (sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_READ):
        return sqlite3.SQLITE_OK
    return load_authorizer(action, arg1, arg2, db_name, trigger)


def connect() -> sqlite3.Connection:
    """The in-memory database a dump loads into: no ATTACHed databases at all, and no cache of
    prepared statements. Each joined INSERT is new SQL (about 1 MB), and sqlite3 keeps the last
    128 prepared by default, each with its program: one INSERT of a million rows (52 MB) peaked
    at 342 MB with the cache, 125 MB without. Extension loading is never enabled here."""
    conn = sqlite3.connect(":memory:", cached_statements=0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    return conn


def open_dump(path: Path, encoding: str):
    # Undecodable bytes become U+FFFD: one bad byte should not stop a dump of good rows. A UTF-8
    # byte-order mark (Windows editors) is skipped; line ends stay as written (CRLF in data too).
    opener = gzip.open if path.name.endswith(".gz") else open
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    return opener(path, "rt", encoding=encoding, errors="replace", newline="")


def sniff(path: Path, encoding: str) -> str | None:
    with open_dump(path, encoding) as fh:
        return detect_dialect(fh.read(SNIFF_CHARS))


def load_dumps(paths: list[Path], conn: sqlite3.Connection, dialect: str = "auto", encoding: str = "utf-8",
               quiet: bool = False, limits: Limits = Limits()) -> LoadReport:
    """Run the dumps' CREATE TABLE / INSERT / COPY into ``conn`` in order; count everything else.

    With ``dialect`` "auto" each file is sniffed; one that shows no dialect's marks (a bare
    data file) is read like the file before it.
    """
    report = LoadReport()
    loader = Loader(conn, report, quiet, limits)
    previous = None
    conn.set_authorizer(load_authorizer)
    try:
        for path in paths:
            read_as = dialect if dialect != "auto" else sniff(path, encoding) or previous or "sqlite"
            report.dialects[str(path)] = previous = read_as
            loader.load(path, read_as, encoding)
        conn.commit()
    finally:
        conn.set_authorizer(None)
    return report


class Loader:
    """Runs one dump's statements; remembers the tables made, across the dumps of one run."""

    def __init__(self, conn: sqlite3.Connection, report: LoadReport, quiet: bool = False,
                 limits: Limits = Limits()):
        self.conn, self.report, self.quiet, self.limits = conn, report, quiet, limits
        self.known: dict[str, list[str]] = {}   # lower-case table name -> its column definitions
        self.path = Path()
        self.copies = CopyLoader(self)
        self.inserts = InsertBatcher(self)

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"

    def error(self, line: int, message: str, text: str = "") -> None:
        self.report.errors.append((self.where(line), message, text[:PREVIEW_CHARS]))

    def compile_error(self, sql: str) -> sqlite3.Error | None:
        """SQLite's error when it cannot compile ``sql`` (a syntax error, an unknown name); None when
        it can. EXPLAIN runs nothing, so the authorizer is off meanwhile: a call compiles."""
        self.conn.set_authorizer(None)
        try:
            self.conn.execute(f"EXPLAIN {sql}").close()
        except sqlite3.Error as exc:
            return exc
        finally:
            self.conn.set_authorizer(load_authorizer)
        return None

    def refuse(self, line: int, kind: str, why: tuple[str, str], text: str = "") -> None:
        """A row (or statement) not loaded for what it holds: an error, counted by ``why``'s key."""
        key, detail = why
        self.report.refused[key] += 1
        what = "statement" if key.startswith("statement") else "row"
        self.error(line, f"{kind} {what} refused: {detail}", text)

    def load(self, path: Path, dialect: str, encoding: str) -> None:
        self.path = path
        with open_dump(path, encoding) as fh:
            splitter = Splitter(fh, dialect, self.limits)
            for item in progress(splitter, self.quiet, desc=f"sql {path.name}", unit="stmt"):
                if isinstance(item, CopyRows):
                    self.copies.rows(item)
                elif isinstance(item, ValuesRows):
                    self.copies.target = None
                    self.inserts.stream(item, dialect, splitter.backslashes)
                elif isinstance(item, TooLong):
                    self.refuse(item.line, item.kind, item.why)
                else:
                    self.statement(item, dialect, splitter.backslashes)
            self.inserts.flush()
        self.report.skipped.update(splitter.directives)

    def statement(self, st: Statement, dialect: str, backslashes: bool) -> None:
        self.copies.target = None
        if st.kind not in ("INSERT", "REPLACE"):
            self.inserts.flush()   # rows go in in dump order
        run = {"CREATE TABLE": self.create, "INSERT": self.inserts.add, "REPLACE": self.inserts.add,
               "COPY": self.copies.head}.get(st.kind)
        if run is None:
            self.report.skipped[st.kind] += 1
            if st.kind == "CREATE VIEW" and (view := VIEW_NAME.search(st.text)):
                self.report.views.setdefault(unquote(view.group(1)).lower(), self.where(st.line))
            return
        if st.cut:   # over --max-row-bytes, passed over unread (split.py)
            self.inserts.flush()
            detail = f"at least {st.cut} characters, over --max-row-bytes {self.limits.row_bytes}: not read"
            self.refuse(st.line, st.kind, ("statement over --max-row-bytes", detail), st.text)
            return
        try:
            run(st, dialect, backslashes)
        except NotLoaded as exc:
            self.report.skipped[exc.kind] += 1
        except (DialectError, sqlite3.Error) as exc:
            self.failed(st, exc)

    def failed(self, st: Statement, exc: Exception) -> None:
        ends = " (the dump ends inside this statement: an unclosed quote or comment?)" if st.unterminated else ""
        self.error(st.line, f"{st.kind} failed: {exc}{ends}", st.text)

    def create(self, st: Statement, dialect: str, backslashes: bool) -> None:
        plan = rewrite_create(*tokens_of(st.text, dialect, backslashes), self.known)
        if plan.table.lower() in self.known:
            self.report.skipped["CREATE TABLE (made before)"] += 1   # the first definition stays
            return
        self.run_schema(plan.sql)
        self.known[plan.table.lower()] = plan.columns
        self.report.loaded["CREATE TABLE"] += 1

    def run_schema(self, sql: str) -> None:
        self.conn.set_authorizer(schema_authorizer)
        try:
            self.conn.execute(sql)
        finally:
            self.conn.set_authorizer(load_authorizer)

    def ensure_table(self, st: Statement, table: str, columns: list | None) -> None:
        """A table no CREATE TABLE made yet is made from the statement's column list."""
        if table.lower() in self.known:
            return
        if not columns:
            raise DialectError(f"no CREATE TABLE for {table} came before, and the statement names no "
                               "columns: give the file that creates it first (--schema FILE)")
        self.run_schema(f"CREATE TABLE {ident(table)} ({', '.join(map(ident, columns))})")
        self.known[table.lower()] = list(map(ident, columns))
        self.report.made[table] = self.where(st.line)
