"""`tunesmith prep extract sql` on excerpts of real sample databases (tests/data/sql/SOURCES.md).

Expected row counts are counted here from the files themselves with a line-based reading
that shares no code with the loader: in these excerpts every row of a multi-row INSERT
starts its own line with "(", every single-row INSERT is one line, and every COPY row is
one line before its "\\." line.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path

from stage_outputs import outputs

from prep.extract.sql.load import load_dumps

DATA = Path(__file__).resolve().parent / "data" / "sql"
SAKILA_SCHEMA = DATA / "sakila-schema.sql"
SAKILA_DATA = [DATA / "sakila-data-excerpt.sql", DATA / "sakila-data-redshift-excerpt.sql"]
PAGILA_SCHEMA, PAGILA_DATA = DATA / "pagila-schema-excerpt.sql", DATA / "pagila-data-excerpt.sql"
CHINOOK_SCHEMA, CHINOOK_DATA = DATA / "chinook-mysql-schema-excerpt.sql", DATA / "chinook-mysql-data-excerpt.sql"


def rows_by_table(*paths: Path) -> Counter:
    """Rows each table gets in ``paths``, from the text alone."""
    counts: Counter = Counter()
    for path in paths:
        table, copying = None, False
        for line in path.read_text(encoding="utf-8").splitlines():
            insert = re.match(r"INSERT INTO (?:\w+\.)?`?(\w+)`?(?: \([^)]*\))? VALUES \(", line)
            copy = re.match(r"COPY (\w+) \(", line)
            if copying:
                copying = line != "\\."
                counts[table] += copying
            elif copy:
                table, copying = copy.group(1), True
            elif insert:
                table = insert.group(1)
                counts[table] += 1
            elif line.startswith("(") and table:
                counts[table] += 1
            elif not line.strip():
                table = None
    return counts


def created_tables(path: Path) -> set[str]:
    return {m.lower() for m in re.findall(r"^CREATE TABLE `?(\w+)`?", path.read_text(encoding="utf-8"), re.M)}


def test_row_counts_are_read_independently():
    # The counting helper itself, on the excerpts' known sizes (checked by eye when cut).
    assert rows_by_table(*SAKILA_DATA) == {"language": 7, "country": 12, "city": 9, "actor": 10, "address": 6,
                                           "store": 2}
    assert rows_by_table(PAGILA_DATA) == {"actor": 8, "address": 6, "staff": 2, "store": 2}
    assert rows_by_table(CHINOOK_DATA) == {"Genre": 10, "MediaType": 5, "Artist": 12}


def test_sakila_schema_then_two_data_only_dumps(cli, tmp_path):
    out = tmp_path / "city.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--schema", SAKILA_SCHEMA, "--input", *SAKILA_DATA,
                       "--output", out, "--table", "city", "--text-column", "city")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    expected = {t: 0 for t in created_tables(SAKILA_SCHEMA)} | rows_by_table(*SAKILA_DATA)
    assert stats["tables"] == expected and stats["errors"] == 0 and rejects == []
    # Tables defined after the DELIMITER ;; trigger block are there, and so are their rows.
    assert {"language", "staff", "store"} <= set(stats["tables"]) and stats["tables"]["store"] == 2
    skipped = stats["skipped_statements"]
    assert skipped["CREATE TRIGGER"] == 3 and skipped["CREATE PROCEDURE"] == 2
    assert skipped["CREATE FUNCTION"] == 1 and skipped["DELIMITER"] == 8 and skipped["CREATE VIEW"] == 2
    assert stats["dialect"] == "mysql"
    assert records[0]["text"] == "A Coruña (La Coruña)" and records[-1]["text"] == "Huai´an"


def test_sakila_geometry_and_schema_prefix(cli, tmp_path):
    out = tmp_path / "address.jsonl"
    query = ("SELECT address AS text, hex(location) AS label FROM address WHERE address_id = 1 "
             "UNION ALL SELECT first_name || ' ' || last_name, actor_id FROM actor WHERE actor_id = 48")
    code, _, err = cli("prep", "extract", "sql", "--schema", SAKILA_SCHEMA, "--input", SAKILA_DATA[1],
                       "--output", out, "--query", query)
    assert code == 0, err
    records, _, _ = outputs(out)
    # /*!50705 0x...,*/ is code MySQL runs: the GEOMETRY value is the blob it spells.
    assert records[0]["text"] == "47 MySakila Drive"
    assert records[0]["label"] == "0000000001010000003E0A325D63345CC0761FDB8D99D94840"
    assert records[1]["text"] == "FRANCES DAY-LEWIS"


def test_sakila_data_without_its_schema_says_what_to_do(cli, tmp_path):
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", SAKILA_DATA[0], "--output", out,
                       "--table", "language", "--text-column", "name")
    assert code == 2
    assert "no table 'language'" in err and "--schema" in err and "no CREATE TABLE for language" in err
    assert not out.exists()


def test_pagila_schema_then_copy_data(cli, tmp_path):
    out = tmp_path / "actor.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--schema", PAGILA_SCHEMA, "--input", PAGILA_DATA,
                       "--output", out, "--table", "actor", "--text-column", "last_name", "--id-column", "actor_id")
    assert code == 0, err
    records, _, stats = outputs(out)
    expected = {t: 0 for t in created_tables(PAGILA_SCHEMA)} | rows_by_table(PAGILA_DATA)
    assert stats["tables"] == expected and stats["errors"] == 0
    assert stats["loaded_statements"]["COPY rows"] == sum(rows_by_table(PAGILA_DATA).values())
    assert stats["skipped_statements"]["CREATE FUNCTION"] == 3 and stats["dialect"] == "postgres"
    assert [r["id"] for r in records][-2:] == ["actor:199", "actor:200"]


def test_pagila_values_and_inherited_table():
    conn = sqlite3.connect(":memory:")
    report = load_dumps([PAGILA_SCHEMA, PAGILA_DATA], conn)
    assert report.errors == []
    rows = conn.execute("SELECT address2, postal_code, district FROM address ORDER BY address_id").fetchall()
    assert rows[0] == (None, "", "Alberta") and rows[-1] == ("", "58327", "")   # \N is NULL, empty is ''
    picture = conn.execute("SELECT picture FROM staff WHERE staff_id = 1").fetchone()[0]
    assert picture == "\\211PNG\\015\\012Z\\012"   # COPY's \\ is one backslash: bytea's escape text
    columns = [r[1] for r in conn.execute("PRAGMA table_info(payment_p2015_01)")]
    assert columns == [r[1] for r in conn.execute("PRAGMA table_info(payment)")]   # INHERITS (payment)


def test_pagila_data_only_makes_tables_from_copy_columns(cli, tmp_path):
    out = tmp_path / "address.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", PAGILA_DATA, "--output", out,
                       "--table", "address", "--text-column", "address")
    assert code == 0, err
    records, _, stats = outputs(out)
    assert stats["tables"] == rows_by_table(PAGILA_DATA)
    assert set(stats["tables_made_from_columns"]) == {"actor", "address", "staff", "store"}
    assert "table address had no CREATE TABLE" in err
    assert records[0]["text"] == "47 MySakila Drive" and len(records) == 6


def test_chinook_single_row_inserts_without_create_table(cli, tmp_path):
    out = tmp_path / "artist.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", CHINOOK_DATA, "--output", out, "--table", "artist",
                       "--text-column", "Name", "--id-column", "ArtistId")
    assert code == 0, err
    records, _, stats = outputs(out)
    assert stats["tables"] == rows_by_table(CHINOOK_DATA)
    assert stats["loaded_statements"] == {"INSERT": sum(rows_by_table(CHINOOK_DATA).values())}
    names = {r["id"]: r["text"] for r in records}
    assert names["Artist:6"] == "Antônio Carlos Jobim" and names["Artist:18"] == "Chico Science & Nação Zumbi"
    assert "table Artist had no CREATE TABLE; made from the column list" in err


def test_chinook_with_its_schema_keeps_typed_tables():
    conn = sqlite3.connect(":memory:")
    report = load_dumps([CHINOOK_SCHEMA, CHINOOK_DATA], conn)
    assert report.errors == [] and report.made == {}
    assert report.skipped == {"DROP": 1, "CREATE DATABASE": 1, "USE": 1, "ALTER": 1, "CREATE INDEX": 1}
    assert conn.execute("SELECT typeof(GenreId), Name FROM Genre WHERE GenreId = 4").fetchone() == (
        "integer", "Alternative & Punk")
    assert conn.execute("SELECT count(*) FROM Album").fetchone() == (0,)
