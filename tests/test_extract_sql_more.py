"""`tunesmith prep extract sql` on more real dumps (tests/data/sql/SOURCES.md): Northwind as a
pg_dump in INSERT mode, MySQL's employees test_db, an Adminer export, a sqlite3 .dump and
PostgreSQL 15 pg_dump in COPY, --inserts and --column-inserts modes.

What each excerpt really holds is read here without the loader: by Python's own sqlite3 where
the dump's dialect reads the same in SQLite, or from the CSV file a dump was made from.
"""
from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.extract.sql import stream
from prep.extract.sql.load import load_dumps

DATA = Path(__file__).resolve().parent / "data"
SQL = DATA / "sql"
NORTHWIND = SQL / "northwind-pg-inserts-excerpt.sql"
EMPLOYEES_SCHEMA = SQL / "employees-testdb-schema.sql"
EMPLOYEES_DATA = [SQL / "employees-testdb-load_departments.dump", SQL / "employees-testdb-load_dept_manager.dump"]
ADMINER = SQL / "basicphp-adminer.sql"
SQLITE_DUMP = SQL / "sqlite340-prompts-dump.sql"
PG15 = {mode: SQL / f"pgdump15-prompts-{mode}.sql" for mode in ("copy", "inserts", "column-inserts")}
PROMPTS_CSV = DATA / "csv" / "awesome_prompts_excerpt.csv"   # what the sqlite3 and pg_dump dumps were made from


def csv_prompts() -> list[dict]:
    with open(PROMPTS_CSV, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def every_row(conn: sqlite3.Connection, table: str) -> list[tuple]:
    return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def loaded(*paths: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    report = load_dumps(list(paths), conn)
    assert report.errors == [] and report.refused == {}, report.errors
    return conn


def northwind_in_sqlite() -> sqlite3.Connection:
    """The Northwind excerpt run by SQLite itself: with standard_conforming_strings = on, a
    PostgreSQL string reads as SQLite's does ('' for a quote, a backslash is a backslash)."""
    text = NORTHWIND.read_text(encoding="utf-8")
    conn = sqlite3.connect(":memory:")
    conn.executescript(re.sub(r"(?m)^SET .*$", "", text))
    return conn


def test_northwind_pg_inserts_every_cell_as_postgres_reads_it():
    reference, conn = northwind_in_sqlite(), loaded(NORTHWIND)
    for table in ("categories", "customers", "employees"):
        assert every_row(conn, table) == every_row(reference, table), table
    counts = {t: len(every_row(reference, t)) for t in ("categories", "customers", "employees")}
    assert counts == {"categories": 8, "customers": 12, "employees": 6}   # as counted in the file by eye
    # standard_conforming_strings = on: "\n" here is a backslash and an n, not a line break.
    address = conn.execute("SELECT address FROM employees WHERE employee_id = 1").fetchone()[0]
    assert address == "507 - 20th Ave. E.\\nApt. 2A"


def test_northwind_records_and_statements_counted(cli, tmp_path):
    out = tmp_path / "customers.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", NORTHWIND, "--output", out, "--table", "customers",
                       "--input-column", "company_name", "--output-column", "address", "--id-column", "customer_id")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert stats["dialect"] == "postgres" and stats["skipped_statements"] == {"DROP": 3, "SET": 8}
    by_id = {r["id"]: r for r in records}
    assert len(records) == 12 and rejects == []
    assert by_id["customers:BONAP"]["input"] == "Bon app'" and by_id["customers:LACOR"]["output"] == "67, avenue de l'Europe"
    assert by_id["customers:FOLKO"]["output"] == "Åkergatan 24" and by_id["customers:ANTON"]["output"] == "Mataderos  2312"


def test_northwind_cut_short_names_the_row_it_lost(cli, tmp_path):
    text = NORTHWIND.read_text(encoding="utf-8")
    cut = text[:text.index("traveled extensively")]   # inside employee 7's row, as a partial download ends
    broken = tmp_path / "northwind-partial.sql"
    broken.write_text(cut, encoding="utf-8")
    line = cut.count("\n") + 1   # the line the unfinished INSERT starts on (it is one line)
    out = tmp_path / "employees.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", broken, "--output", out, "--table", "employees",
                       "--text-column", "notes")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["id"] for r in records] == ["employees:1", "employees:2", "employees:3", "employees:4"]
    assert stats["errors"] == 1 and rejects[0]["where"] == f"{broken}:{line}"
    assert "the dump ends inside this statement" in rejects[0]["detail"] and f"{broken}:{line}" in err


def employees_in_sqlite() -> sqlite3.Connection:
    """The two load_*.dump files run by SQLite itself (it reads `names` and these plain strings)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript("CREATE TABLE departments (dept_no, dept_name);"
                       "CREATE TABLE dept_manager (emp_no, dept_no, from_date, to_date);")
    for path in EMPLOYEES_DATA:
        conn.executescript(path.read_text(encoding="utf-8"))
    return conn


def test_employees_test_db_schema_and_extended_inserts(cli, tmp_path):
    reference = employees_in_sqlite()
    conn = loaded(EMPLOYEES_SCHEMA, *EMPLOYEES_DATA)
    for table in ("departments", "dept_manager"):
        assert every_row(conn, table) == every_row(reference, table)
    assert len(every_row(reference, "dept_manager")) == 24   # one row a line in the file
    out = tmp_path / "managers.jsonl"
    query = ("SELECT d.dept_name AS input, m.from_date || ' to ' || m.to_date AS output "
             "FROM dept_manager m JOIN departments d USING (dept_no) ORDER BY m.emp_no")
    code, _, err = cli("prep", "extract", "sql", "--schema", EMPLOYEES_SCHEMA, "--input", *EMPLOYEES_DATA,
                       "--output", out, "--query", query)
    assert code == 0, err
    records, _, stats = outputs(out)
    assert len(records) == 24 and records[0]["input"] == "Marketing"
    assert records[-1] == {**records[-1], "input": "Customer Service", "output": "1996-01-03 to 9999-01-01"}
    skipped = stats["skipped_statements"]
    # `source load_*.dump ;` is the mysql client's, never followed; views and SELECTs are not run.
    assert skipped["SOURCE"] == 9 and skipped["CREATE VIEW"] == 2 and skipped["SELECT"] == 8
    assert stats["tables"]["departments"] == 9 and stats["tables"]["employees"] == 0


def test_employees_view_is_not_a_table(cli, tmp_path):
    code, _, err = cli("prep", "extract", "sql", "--schema", EMPLOYEES_SCHEMA, "--input", EMPLOYEES_DATA[0],
                       "--output", tmp_path / "out.jsonl", "--table", "current_dept_emp", "--text-column", "dept_no")
    assert code == 2
    assert "'current_dept_emp' is a view" in err and "--query" in err and "dept_manager" in err
    assert f"{EMPLOYEES_SCHEMA}:104" in err and "CREATE VIEW 2" in err


def test_adminer_export_tabs_between_values_and_crlf_escapes(cli, tmp_path):
    out = tmp_path / "posts.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", ADMINER, "--output", out, "--table", "posts",
                       "--input-column", "post_title", "--output-column", "post_content")
    assert code == 0, err
    records, _, stats = outputs(out)
    # The three rows, unescaped by hand from the file (MySQL: \r and \n are CR and LF).
    assert [(r["input"], r["output"]) for r in records] == [
        ("First Title", "Content\r\ncontent"), ("Second Title", "Content\r\n\r\ncontent"),
        ("Third Title", "Content\r\n\r\nContent")]
    assert stats["dialect"] == "mysql" and stats["skipped_statements"] == {"DROP": 1, "SET": 4}


def test_sqlite_dump_replace_char10_against_sqlite_and_the_csv(cli, tmp_path):
    reference = sqlite3.connect(":memory:")
    reference.executescript(SQLITE_DUMP.read_text(encoding="utf-8"))   # SQLite runs its replace() itself
    assert every_row(loaded(SQLITE_DUMP), "prompts") == every_row(reference, "prompts")
    text = SQLITE_DUMP.read_text(encoding="utf-8")
    assert "'\\012',char(10))" in text   # a prompt holding a backslash: .dump picked another marker
    out = tmp_path / "prompts.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", SQLITE_DUMP, "--output", out, "--table", "prompts",
                       "--input-column", "act", "--output-column", "prompt")
    assert code == 0, err
    records, _, stats = outputs(out)
    assert [(r["input"], r["output"]) for r in records] == [(p["act"], p["prompt"]) for p in csv_prompts()]
    assert stats["dialect"] == "sqlite" and stats["refused_rows"] == {}


@pytest.mark.parametrize("mode", sorted(PG15))
def test_pg_dump_15_each_mode_gives_the_csv_back(cli, tmp_path, mode):
    """COPY with \\n and \\\\ escapes; INSERT ... OVERRIDING SYSTEM VALUE (an identity column),
    four rows a statement (--rows-per-insert) or with column lists (--column-inserts)."""
    out = tmp_path / f"{mode}.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", PG15[mode], "--output", out, "--table", "prompts",
                       "--input-column", "act", "--output-column", "prompt", "--label-column", "contributor",
                       "--id-column", "id")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    expected = [(f"prompts:{n}", p["act"], p["prompt"], p["contributor"]) for n, p in enumerate(csv_prompts(), 1)]
    assert [(r["id"], r["input"], r["output"], r["label"]) for r in records] == expected
    assert rejects == [] and stats["tables"] == {"prompts": 10}
    assert not any(kind.startswith("INSERT") for kind in stats["skipped_statements"])


def test_pg_dump_overriding_read_by_batch_and_token_by_token(tmp_path, monkeypatch):
    reference = every_row(loaded(PG15["inserts"]), "prompts")
    assert [row[2] for row in reference] == [p["prompt"] for p in csv_prompts()]
    # A dollar-quoted value sends its statement the token-by-token way (dialect.py); same value.
    dollar = tmp_path / "dollar.sql"
    dollar.write_text(PG15["inserts"].read_text(encoding="utf-8").replace("'Composer'", "$$Composer$$"),
                      encoding="utf-8")
    assert every_row(loaded(dollar), "prompts") == reference
    monkeypatch.setattr(stream, "STREAM_CHARS", 64)    # every INSERT read in batches of rows
    monkeypatch.setattr(stream, "BATCH_CHARS", 100)
    assert every_row(loaded(PG15["inserts"]), "prompts") == reference
