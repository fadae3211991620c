"""Extract records from a SQL dump (MySQL, PostgreSQL or SQLite): one table, or one SELECT.

The dump's CREATE TABLE and INSERT statements (and PostgreSQL COPY ... FROM stdin blocks)
are rewritten for SQLite and loaded into an in-memory database; nothing else in the dump
(ATTACH, PRAGMA, DROP, UPDATE, DELETE, triggers, SELECT, ...) is ever executed: it is
counted by kind in the stats and named on stderr. Then rows come from --table, or from
--query, one SELECT run under a read-only authorizer.

A record is {"id", "text"} (--text-column) or {"id", "input", "output"} (--input-column and
--output-column), with "label" from --label-column; without those flags, columns named text,
or input and output (and label), are used. id is "<table>:<rowid>" (or the --id-column
value; with --query, "query:<row number>"); meta holds the source, the table and the row.
A statement that fails to load is an error with its line in the dump; rows with an empty
field are dropped.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.stage import Stage, options_of, progress
from prep.extract.sql.load import load_dump
from prep.extract.sql.rows import check_query, pick_columns, query_rows, table_rows

DIALECTS = ("auto", "mysql", "postgres", "sqlite")
# At most this many table names are listed in an error message.
LISTED_NAMES = 50


def add_arguments(parser) -> None:
    add_common(parser, input_help="SQL dump file (.sql, or .sql.gz)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", help="table whose rows become records")
    source.add_argument("--query", help="one SELECT over the dump's tables (SQLite syntax); its "
                        "columns named text, or input and output, become the record")
    for flag, help_text in (
            ("text-column", "column holding the text ({id, text} records)"),
            ("input-column", "column holding the prompt ({id, input, output} records)"),
            ("output-column", "column holding the response ({id, input, output} records)"),
            ("label-column", "column copied to the record's label"),
            ("id-column", "column whose value names the record (id = TABLE:VALUE) instead of the rowid")):
        parser.add_argument(f"--{flag}", f"--{flag.replace('-', '_')}", dest=flag.replace("-", "_"),
                            help=help_text)
    parser.add_argument("--dialect", choices=DIALECTS, default="auto",
                        help="dump dialect: quoting and escapes differ (auto guesses from the first 64 KB)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the dump")


def run(args) -> int:
    path = Path(args.input)
    if not path.is_file():
        raise StageError(f"{path}: no such dump file")
    query = check_query(args.query) if args.query is not None else None
    conn = sqlite3.connect(":memory:")
    try:
        # No ATTACHed databases at all; extension loading is never enabled on this connection.
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        report = load_dump(path, conn, args.dialect, args.encoding, args.quiet)
        if report.skipped:
            named = ", ".join(f"{kind} {n}" for kind, n in sorted(report.skipped.items()))
            print(f"sql: {sum(report.skipped.values())} statements in {path} were not executed: {named}",
                  file=sys.stderr)
        tables = table_names(conn)
        if query is None:
            table = find_table(tables, args.table, path, report.errors)
            rows, columns = table_rows(conn, table), None
        else:
            table = "query"
            rows, columns = query_rows(conn, query, tables)
        fields = pick_columns(args, columns or column_names(conn, table), table, query is not None)
        with Stage("extract-sql", args.output, options_of(args), inputs=[path], quiet=args.quiet) as stage:
            stage.extra.update(dialect=report.dialect, tables=table_counts(conn, tables),
                               loaded_statements=dict(sorted(report.loaded.items())),
                               skipped_statements=dict(sorted(report.skipped.items())))
            for line, message, preview in report.errors:
                stage.read()
                stage.error(f"{path}:{line}", message, preview or None)
            meta = {"source": str(path), **({} if query else {"table": table})}  # the query is in the stats
            write_rows(stage, progress(rows, args.quiet, desc="sql rows", unit="row"), fields, table, meta)
    finally:
        conn.close()
    return 0


def write_rows(stage: Stage, rows, fields: dict, table: str, meta: dict) -> None:
    """Each row -> a record; rows whose text fields are empty are dropped with reason "empty"."""
    for number, row in rows:
        stage.read()
        record = {"id": f"{table}:{row[fields['id']] if fields.get('id') else number}"}
        for key in ("text", "input", "output"):
            if fields.get(key):
                record[key] = as_text(row[fields[key]])
        if fields.get("label") and row[fields["label"]] is not None:
            record["label"] = row[fields["label"]]
        record["meta"] = {**meta, "row": number}
        empty = [fields[k] for k in ("text", "input", "output") if k in record and not record[k].strip()]
        if empty:
            stage.drop(record, "empty", f"empty column: {', '.join(empty)}")
        else:
            stage.keep(record)


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def table_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def table_counts(conn: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
            for t in tables}


def column_names(conn: sqlite3.Connection, table: str) -> list[str]:
    quoted = table.replace('"', '""')
    return [d[0] for d in conn.execute(f'SELECT * FROM "{quoted}" LIMIT 0').description]


def find_table(tables: list[str], wanted: str, path: Path, errors: list) -> str:
    """The loaded table named ``wanted`` (SQLite names ignore case), or a StageError listing them."""
    for name in tables:
        if name.lower() == wanted.lower():
            return name
    found = (", ".join(tables[:LISTED_NAMES]) + (" ..." if len(tables) > LISTED_NAMES else "")
             if tables else "none (the dump created no tables)")
    failed = ""
    if errors:
        line, message, _ = errors[0]
        failed = f"; {len(errors)} statements failed to load, the first at line {line}: {message}"
    raise StageError(f"no table {wanted!r} in {path}; tables found: {found}{failed}")
