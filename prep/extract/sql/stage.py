"""Extract records from SQL dumps (MySQL, PostgreSQL or SQLite): one table, or one SELECT.

The dumps' CREATE TABLE and INSERT statements (and PostgreSQL COPY ... FROM stdin blocks)
are rewritten for SQLite and loaded into an in-memory database, files in the order given:
--schema files first (a data-only dump's tables), then each --input. An INSERT or COPY into
a table no CREATE TABLE made gets one from its column list. Nothing else in a dump (ATTACH,
PRAGMA, DROP, UPDATE, triggers, procedures, SELECT, ...) is ever executed: it is counted by
kind in the stats and named on stderr. Then rows come from --table, or from --query, one
SELECT run under a read-only authorizer.

A record is {"id", "text"} (--text-column) or {"id", "input", "output"} (--input-column and
--output-column), with "label" from --label-column; without those flags, columns named text,
or input and output (and label), are used. id is "<table>:<rowid>" (or the --id-column
value; with --query, "query:<row number>"); meta holds the source, the table and the row.
A statement or row that fails to load is an error with its file:line; so is a row refused
for what it holds (anything but literals, over --max-row-bytes or --max-cell-bytes), counted
by reason in the stats ("refused_rows"). Rows with an empty field are dropped. Keeping no
record at all fails (exit status 1 or 2) and says why. --engine and --workers are accepted as
on every stage; the dump is loaded and its rows converted in this process (prep/extract/serial.py).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from prep.core.errors import StageError
from prep.core.flags import add_engine, add_output, add_quiet
from prep.core.records import input_files
from prep.core.stage import Stage, options_of, progress
from prep.extract.serial import check_engine
from prep.extract.sql import MAX_CELL_BYTES, MAX_ROW_BYTES

if TYPE_CHECKING:
    import sqlite3

    from prep.extract.sql.load import LoadReport

DIALECTS = ("auto", "mysql", "postgres", "sqlite")
# At most this many table names are listed in an error message.
LISTED_NAMES = 50
DUMP_SUFFIXES = (".sql", ".sql.gz")


def add_arguments(parser) -> None:
    parser.add_argument("--input", "--input-file", "--input_file", dest="input", nargs="+", required=True,
                        help="SQL dump files (.sql, or .sql.gz), folders or globs, loaded in the order given")
    parser.add_argument("--schema", action="append", metavar="FILE",
                        help="a dump whose CREATE TABLEs the data needs, loaded before --input "
                             "(repeatable; for data-only dumps)")
    add_output(parser)
    add_quiet(parser)
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
                        help="dump dialect: quoting and escapes differ (auto guesses each file from its "
                             "first 64 KB; a file with no marks is read like the one before)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the dumps")
    parser.add_argument("--max-row-bytes", "--max_row_bytes", dest="max_row_bytes", type=int,
                        default=MAX_ROW_BYTES, help="a row of an INSERT (or a COPY line, or a longer statement "
                        "that loads, such as CREATE TABLE) over this many bytes is refused: an error with its "
                        "file:line, counted in refused_rows")
    parser.add_argument("--max-cell-bytes", "--max_cell_bytes", dest="max_cell_bytes", type=int,
                        default=MAX_CELL_BYTES, help="a row holding a value over this many bytes is refused")
    add_engine(parser)   # accepted for uniformity: the dump is loaded in this process (prep/extract/serial.py)


def dump_files(specs: list[str], what: str) -> list[Path]:
    """Each spec as files, in order: a file as named, a folder's dumps sorted, a glob's matches sorted."""
    paths: list[Path] = []
    for spec in specs:
        if Path(spec).is_dir():
            found = [p for p in input_files(spec, (".sql", ".gz")) if p.name.endswith(DUMP_SUFFIXES)]
            if not found:
                raise StageError(f"{what} {spec}: folder holds no .sql or .sql.gz files")
            paths += found
        else:
            paths += input_files(spec, DUMP_SUFFIXES)
    return paths


def run(args) -> int:
    check_engine(args, "extract sql")
    schema, dumps = dump_files(args.schema or [], "--schema"), dump_files(args.input, "--input")
    # sqlite3 and the dump grammar: imported here to keep them off the CLI's start-up path
    from prep.extract.sql.load import Limits, connect, load_dumps
    from prep.extract.sql.rows import check_query, pick_columns, query_rows, table_rows

    query = check_query(args.query) if args.query is not None else None
    limits = Limits(args.max_row_bytes, args.max_cell_bytes)
    if min(limits.row_bytes, limits.cell_bytes) < 1:
        raise StageError(f"--max-row-bytes and --max-cell-bytes take a positive number of bytes; got "
                         f"{limits.row_bytes} and {limits.cell_bytes}")
    conn = connect()
    try:
        # The stage opens first, so that its seconds are those of the whole run, load included.
        with Stage("extract-sql", args.output, options_of(args), inputs=[*schema, *dumps], quiet=args.quiet) as stage:
            report = load_dumps([*schema, *dumps], conn, args.dialect, args.encoding, args.quiet, limits)
            tell(report)
            tables = table_names(conn)
            if query is None:
                table = find_table(tables, args.table, dumps, report.errors, report.views)
                rows, columns = table_rows(conn, table), None
            else:
                table = "query"
                rows, columns = query_rows(conn, query, tables)
            fields = pick_columns(args, columns or column_names(conn, table), table, query is not None)
            stage.extra.update(describe(report, conn, tables))
            for where, message, preview in report.errors:
                stage.read()
                stage.error(where, message, preview or None)
            meta = {"source": str(dumps[0]) if len(dumps) == 1 else [str(p) for p in dumps],
                    **({} if query else {"table": table})}   # the query is in the stats
            write_rows(stage, progress(rows, args.quiet, desc="sql rows", unit="row"), fields, table, meta)
            warn_errors(stage, report)
            if stage.kept == 0:
                print(f"sql: {nothing_kept(stage, table, report)}", file=sys.stderr)
    finally:
        conn.close()
    return 1 if stage.kept == 0 else 0


def tell(report: LoadReport) -> None:
    """What was not run, and tables made from a column list, on stderr."""
    if report.skipped:
        named = ", ".join(f"{kind} {n}" for kind, n in sorted(report.skipped.items()))
        print(f"sql: {sum(report.skipped.values())} statements were not executed: {named}", file=sys.stderr)
    for table, where in report.made.items():
        print(f"sql: table {table} had no CREATE TABLE; made from the column list at {where} "
              "(its columns have no declared type)", file=sys.stderr)


def describe(report: LoadReport, conn: sqlite3.Connection, tables: list[str]) -> dict:
    dialects = set(report.dialects.values())
    return {"dialect": dialects.pop() if len(dialects) == 1 else report.dialects,
            "tables": table_counts(conn, tables),
            "loaded_statements": dict(sorted(report.loaded.items())),
            "skipped_statements": dict(sorted(report.skipped.items())),
            "refused_rows": dict(sorted(report.refused.items())),
            **({"tables_made_from_columns": report.made} if report.made else {})}


def warn_errors(stage: Stage, report: LoadReport) -> None:
    """Statements or rows that failed to load, when they are over half of what was read, on stderr.

    (A drop reason over half the rows is named by the Stage itself.)
    """
    if stage.errors * 2 > stage.read_count:
        where, message, _ = report.errors[0]
        print(f"sql: warning: {stage.errors} of {stage.read_count} items read were statements or rows that "
              f"failed to load, e.g. {where}: {message}", file=sys.stderr)


def nothing_kept(stage: Stage, table: str, report: LoadReport) -> str:
    """Why a run kept no record: an empty table, statements that failed, or rows all dropped."""
    if stage.dropped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(stage.dropped.items()))
        return f"kept 0 records: all {sum(stage.dropped.values())} rows of {table} were dropped ({reasons})"
    why = f"kept 0 records: {'the query returned' if table == 'query' else f'table {table} has'} no rows"
    if report.errors:
        where, message, _ = report.errors[0]
        why += f"; {len(report.errors)} statements or rows failed to load, the first at {where}: {message}"
    return why


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
            stage.drop(record, "empty", f"empty column: {', '.join(empty)}", where=f"{table} row {number}")
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


def find_table(tables: list[str], wanted: str, paths: list[Path], errors: list, views: dict | None = None) -> str:
    """The loaded table named ``wanted`` (SQLite names ignore case), or a StageError listing them."""
    for name in tables:
        if name.lower() == wanted.lower():
            return name
    if wanted.lower() in (views or {}):
        raise StageError(f"{wanted!r} is a view ({views[wanted.lower()]}): views are not created (their SQL is "
                         f"the dump's dialect, and running it is not extracting); write its SELECT over the "
                         f"tables with --query instead; tables found: {', '.join(tables[:LISTED_NAMES])}")
    found = (", ".join(tables[:LISTED_NAMES]) + (" ..." if len(tables) > LISTED_NAMES else "")
             if tables else "none (the dump created no tables)")
    failed = ""
    if errors:
        where, message, _ = errors[0]
        failed = f"; {len(errors)} statements failed to load, the first at {where}: {message}"
    named = str(paths[0]) if len(paths) == 1 else f"{len(paths)} dumps"
    raise StageError(f"no table {wanted!r} in {named}; tables found: {found}{failed}")
