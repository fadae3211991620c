"""Loading a SQL dump into an in-memory SQLite database: CREATE TABLE and INSERT only.

The dump is read line by line (gzip too); sql_scan.py takes quoted text and comments out,
sqlparse's statement splitter cuts the plain SQL into statements as the lines stream past,
and sql_dialect.py / sql_schema.py rewrite the ones that carry data. Every other statement
(ATTACH, PRAGMA, DROP, UPDATE, DELETE, triggers, SELECT...) is counted by kind and never
executed; an authorizer on the connection refuses anything else that might slip through.
"""
from __future__ import annotations

import gzip
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlparse import lexer
from sqlparse import tokens as T
from sqlparse.engine.statement_splitter import StatementSplitter

from prep.core.stage import progress
from prep.extract.sql.dialect import (
    DialectError,
    NotLoaded,
    Plan,
    classify,
    copy_sql,
    rewrite_copy,
    rewrite_insert,
)
from prep.extract.sql.quotes import SNIFF_CHARS, decode_copy_field, detect_dialect
from prep.extract.sql.scan import Scanner
from prep.extract.sql.schema import rewrite_create

# Characters of a failed statement kept in the rejects file.
PREVIEW_CHARS = 300

REWRITERS = {"CREATE TABLE": rewrite_create, "INSERT": rewrite_insert, "REPLACE": rewrite_insert,
             "COPY": rewrite_copy}
SCHEMA_TABLES = ("sqlite_master", "sqlite_schema")
# Pure functions that sqlite3's own .dump writes into INSERTs to spell newlines and
# control characters: replace('a\nb','\n',char(10)), unistr('\u000a'). No other call runs.
LOAD_FUNCTIONS = {"replace", "char", "unistr"}


@dataclass
class LoadReport:
    dialect: str
    skipped: Counter = field(default_factory=Counter)   # kind -> statements never executed
    loaded: Counter = field(default_factory=Counter)    # kind -> statements (COPY: rows) loaded
    errors: list = field(default_factory=list)          # (line, message, preview)


def load_authorizer(action, arg1, arg2, db_name, trigger):
    """While loading: create tables and insert rows in ``main``, nothing else."""
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
    if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in LOAD_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def open_dump(path: Path, encoding: str):
    # Undecodable bytes become U+FFFD: one bad byte should not stop a dump of good rows.
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding=encoding, errors="replace")


def sniff(path: Path, encoding: str) -> str:
    with open_dump(path, encoding) as fh:
        return detect_dialect(fh.read(SNIFF_CHARS))


def statements(lines, scanner: Scanner) -> Iterator[tuple[int, list]]:
    """(first line, significant tokens) of each statement, split by sqlparse as lines stream in."""
    def stream():
        for number, line in enumerate(lines, 1):
            yield from lexer.tokenize(scanner.feed(line, number))

    line = 1
    for statement in StatementSplitter().process(stream()):
        tokens = [(t.ttype, t.value) for t in statement.tokens]
        lead = 0
        for ttype, value in tokens:
            if not (ttype in T.Whitespace or ttype in T.Comment):
                break
            lead += value.count("\n")
        start, line = line + lead, line + sum(value.count("\n") for _, value in tokens)
        significant = [t for t in tokens if not (t[0] in T.Whitespace or t[0] in T.Comment)]
        if significant and significant != [(T.Punctuation, ";")]:
            yield start, significant


def load_dump(path: Path, conn: sqlite3.Connection, dialect: str = "auto", encoding: str = "utf-8",
              quiet: bool = False) -> LoadReport:
    """Run the dump's CREATE TABLE / INSERT / COPY into ``conn``; count everything else."""
    report = LoadReport(sniff(path, encoding) if dialect == "auto" else dialect)
    scanner = Scanner(report.dialect)
    conn.set_authorizer(load_authorizer)
    try:
        with open_dump(path, encoding) as fh:
            for line, tokens in progress(statements(fh, scanner), quiet, desc="sql load", unit="stmt"):
                run_statement(conn, line, tokens, scanner.values, report)
                for _, value in tokens:       # the statement's quoted text is no longer needed
                    scanner.values.pop(value, None)
        conn.commit()
    finally:
        conn.set_authorizer(None)
    report.skipped.update(scanner.directives)
    report.errors.extend((line, problem, "") for line, problem in scanner.finish())
    return report


def run_statement(conn: sqlite3.Connection, line: int, tokens: list, values: dict,
                  report: LoadReport) -> None:
    kind = classify(tokens)
    rewrite = REWRITERS.get(kind)
    if rewrite is None:
        report.skipped[kind] += 1
        return
    preview = " ".join(values[v].text if v in values else v for _, v in tokens)[:PREVIEW_CHARS]
    try:
        plan = rewrite(tokens, values)
        if plan.copy is not None:
            load_copy(conn, plan, report)
            return
        conn.execute(plan.sql)
    except NotLoaded as exc:
        report.skipped[exc.kind] += 1
    except (DialectError, sqlite3.Error) as exc:
        report.errors.append((line, f"{kind} failed: {exc}", preview))
    else:
        report.loaded[kind] += 1


def load_copy(conn: sqlite3.Connection, plan: Plan, report: LoadReport) -> None:
    """COPY rows one INSERT each, so that one bad row is one error with its own line."""
    templates: dict[int, str] = {}
    for line, raw in plan.copy.rows:
        fields = [decode_copy_field(f) for f in raw.split("\t")]
        sql = templates.setdefault(len(fields), copy_sql(plan, len(fields)))
        try:
            conn.execute(sql, fields)
        except sqlite3.Error as exc:
            report.errors.append((line, f"COPY row failed: {exc}", raw[:PREVIEW_CHARS]))
        else:
            report.loaded["COPY rows"] += 1
