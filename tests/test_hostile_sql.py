"""Hostile dumps for `prep extract sql`: statements that compute rows or values, oversize rows,
and one INSERT long enough to show whether memory grows with it.

Every input is built here. Only INSERT ... VALUES rows of literals (and COPY data) load; each
run ends with exit status 0 or 2 and a stats file whose counts add up (stage_outputs checks
read == kept + dropped + errors), every refused row in the rejects file with its file:line.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from stage_outputs import outputs

import prep.extract.sql.split as split
import prep.extract.sql.stream as stream
from prep.extract.sql.literals import Limits
from prep.extract.sql.load import load_dumps

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "sql"
HEAD = "CREATE TABLE t (id INTEGER, text TEXT);\nINSERT INTO t VALUES (0, 'a real row');\n"


def extract(cli, tmp_path: Path, dump: str, *flags, dialect: str = "sqlite"):
    path = tmp_path / "dump.sql"
    path.write_text(dump, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t",
                       "--text-column", "text", "--dialect", dialect, *flags)
    assert code in (0, 2) and "Traceback" not in err, err
    records, rejected, stats = outputs(out)
    return code, err, records, rejected, stats, path


def load(tmp_path: Path, dump: str, dialect: str, limits: Limits = Limits()):
    path = tmp_path / f"{dialect}.sql"
    path.write_text(dump, encoding="utf-8")
    conn = sqlite3.connect(":memory:")
    report = load_dumps([path], conn, dialect, limits=limits)
    rows = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    return rows, sorted((int(w.rsplit(":", 1)[1]), m) for w, m, _ in report.errors), dict(report.refused)


def test_insert_select_over_joined_values_is_never_run(cli, tmp_path):
    ten = "(VALUES " + ",".join(f"({i})" for i in range(10)) + ")"
    joins = ", ".join(f"{ten} j{k}" for k in range(6))          # 10^6 rows from 400 bytes
    dump = HEAD + f"INSERT INTO t SELECT j0.column1, 'row' FROM {joins};\n"
    code, err, records, _, stats, _ = extract(cli, tmp_path, dump)
    assert code == 0 and [r["text"] for r in records] == ["a real row"]
    assert stats["skipped_statements"] == {"INSERT ... SELECT": 1} and stats["tables"] == {"t": 1}
    assert "INSERT ... SELECT 1" in err


def test_recursive_insert_and_schema_reads_are_never_run(cli, tmp_path):
    dump = HEAD + ("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, 'n' FROM c;\n"
                   "INSERT INTO t SELECT 1, sql FROM sqlite_master;\n"
                   "INSERT INTO t (id, text) SELECT 2, name FROM sqlite_schema;\n")
    code, _, records, _, stats, _ = extract(cli, tmp_path, dump)
    assert code == 0 and [r["text"] for r in records] == ["a real row"]
    assert stats["skipped_statements"] == {"INSERT ... SELECT": 2, "INSERT ... WITH": 1}


def test_nested_replace_is_refused_not_run(cli, tmp_path):
    value = "'xxxxxxxxxx'"
    for _ in range(7):                                            # 282 bytes that made 100 MB
        value = f"replace({value},'x','xxxxxxxxxx')"
    code, _, records, rejected, stats, path = extract(cli, tmp_path, HEAD + f"INSERT INTO t VALUES (1, {value});\n")
    assert code == 0 and [r["text"] for r in records] == ["a real row"]
    assert stats["refused_rows"] == {"function call": 1} and stats["errors"] == 1
    [reject] = rejected
    assert reject["where"] == f"{path}:3" and "a function call, replace()" in reject["detail"]
    assert (tmp_path / "out.jsonl").stat().st_size < 1000


@pytest.mark.parametrize("value, counted", [
    ("printf('%.*c', 100000000, 'x')", "function call"),
    ("zeroblob(100000000)", "function call"),
    ("randomblob(10000000)", "function call"),
    ("char(65, 66)", "function call"),
    ("upper('abc')", "function call"),
    ("'a' || 'b'", "expression"),
    ("1 + 1", "expression"),
    ("(SELECT group_concat(sql) FROM sqlite_master)", "subquery"),
    ("(VALUES (1))", "subquery"),
])
def test_expressions_in_values_are_refused_and_counted(cli, tmp_path, value, counted):
    dump = HEAD + f"INSERT INTO t VALUES (1, 'kept before'), (2, {value}),\n(3, 'kept after');\n"
    code, _, records, rejected, stats, path = extract(cli, tmp_path, dump)
    assert code == 0 and [r["text"] for r in records] == ["a real row", "kept before", "kept after"]
    assert stats["refused_rows"] == {counted: 1} and stats["error_reasons"] == {"INSERT row refused": 1}
    assert [r["where"] for r in rejected] == [f"{path}:3"] and "only literal values" in rejected[0]["detail"]


def test_literals_and_simple_casts_load(cli, tmp_path):
    dump = HEAD + ("INSERT INTO t VALUES (1, CAST('one' AS TEXT)), (-2, 'two'), (+3.5e0, NULL), (4, X'6869'),"
                   " (CAST('5' AS INTEGER), 'five'), (6, TRUE);\n")
    code, _, records, _, stats, _ = extract(cli, tmp_path, dump)
    assert code == 0 and stats["errors"] == 0 and stats["refused_rows"] == {}
    assert [r["text"] for r in records] == ["a real row", "one", "two", "hi", "five", "1"]
    assert stats["dropped"] == {"empty": 1}                       # the NULL text
    pg = "CREATE TABLE t (id integer, text text);\nINSERT INTO public.t VALUES (1, 'one'::text), ('2'::int, 'two');\n"
    code, _, records, _, stats, _ = extract(cli, tmp_path, pg, dialect="postgres")
    assert code == 0 and [r["text"] for r in records] == ["one", "two"] and stats["errors"] == 0


def test_sqlite_dump_line_breaks_load_byte_for_byte(tmp_path):
    # sqlite3 3.40's .dump writes text holding CR or LF so; newer releases use unistr().
    dump = ("CREATE TABLE t (id INTEGER, text TEXT);\n"
            "INSERT INTO t VALUES(1,replace(replace('a\\r\\nb','\\r',char(13)),'\\n',char(10)));\n"
            "INSERT INTO t VALUES(2,replace('it''s \\n literal\\012next','\\012',char(10)));\n"
            "INSERT INTO t VALUES(3,replace('keeps \\n and \\012(\\n0)end','(\\n0)',char(10)));\n"
            "INSERT INTO t VALUES(4,unistr('tab\\u0009bell\\0007 back\\\\slash \\+01F600'));\n"
            "INSERT INTO t VALUES(5,'replace(''x'',''x'',char(10)) as text');\n")
    rows, errors, refused = load(tmp_path, dump, "sqlite")
    assert errors == [] and refused == {}
    assert rows == [(1, "a\r\nb"), (2, "it's \\n literal\nnext"), (3, "keeps \\n and \\012\nend"),
                    (4, "tab\tbell\x07 back\\slash \U0001F600"), (5, "replace('x','x',char(10)) as text")]


def test_replace_that_could_grow_a_value_is_refused(tmp_path):
    dump = ("CREATE TABLE t (id INTEGER, text TEXT);\nINSERT INTO t VALUES(1,replace('xx','x','xxxx'));\n"
            "INSERT INTO t VALUES(2,replace('xx','x',char(10,10)));\nINSERT INTO t VALUES(3,'fine');\n")
    rows, errors, refused = load(tmp_path, dump, "sqlite")
    assert rows == [(3, "fine")] and refused == {"function call": 2} and [line for line, _ in errors] == [2, 3]


def test_rows_and_values_over_the_limits_are_refused_by_line(cli, tmp_path):
    big = "y" * 3000
    dump = HEAD + (f"INSERT INTO t VALUES (1, 'small'), (2, '{big}'),\n(3, 'also small');\n"
                   f"INSERT INTO t VALUES (4, X'{'00' * 700}');\nINSERT INTO t VALUES (5, '{'z' * 1500}');\n")
    code, _, records, rejected, stats, path = extract(cli, tmp_path, dump, "--max-row-bytes", "2500",
                                                      "--max-cell-bytes", "1400")
    assert code == 0 and [r["text"] for r in records] == ["a real row", "small", "also small"]
    assert stats["refused_rows"] == {"row over --max-row-bytes": 1, "value over --max-cell-bytes": 2}
    assert [r["where"] for r in rejected] == [f"{path}:3", f"{path}:5", f"{path}:6"]
    assert stats["options"]["max_row_bytes"] == 2500 and stats["options"]["max_cell_bytes"] == 1400
    assert "3007 bytes, over --max-row-bytes 2500" in rejected[0]["detail"]


def test_copy_rows_over_the_limits_are_refused_by_line(cli, tmp_path):
    dump = ("CREATE TABLE t (id integer, text text);\nCOPY t (id, text) FROM stdin;\n1\tfine\n"
            f"2\t{'w' * 500}\n3\tcafé {'é' * 160}\n4\talso fine\n\\.\n")   # 328 bytes, a 326-byte value
    code, _, records, rejected, stats, path = extract(cli, tmp_path, dump, "--max-row-bytes", "400",
                                                      "--max-cell-bytes", "300", dialect="postgres")
    assert code == 0 and [r["text"] for r in records] == ["fine", "also fine"]
    assert [r["where"] for r in rejected] == [f"{path}:4", f"{path}:5"]
    assert stats["refused_rows"] == {"row over --max-row-bytes": 1, "value over --max-cell-bytes": 1}


def test_bad_limits_are_a_setup_error(cli, tmp_path):
    path = tmp_path / "d.sql"
    path.write_text(HEAD)
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", tmp_path / "o.jsonl", "--table", "t",
                       "--max-row-bytes", "0")
    assert code == 2 and "--max-row-bytes and --max-cell-bytes take a positive number" in err


@pytest.mark.parametrize("chunk, detail", [
    (split.CHUNK_CHARS, "300012 bytes, over --max-row-bytes 200000"),       # the row is read, then refused
    (1 << 14, "at least 300012 characters, over --max-row-bytes 200000: not read")])   # never held whole
def test_a_long_insert_with_an_oversize_row_goes_on_after_it(tmp_path, monkeypatch, chunk, detail):
    monkeypatch.setattr(split, "CHUNK_CHARS", chunk)
    rows = [f"({i}, 'row {i}')" for i in range(200_000)]         # about 3.7 MB: read by batch
    rows[150_000] = f"(150000, '{'q' * 300_000}')"
    dump = "CREATE TABLE t (id INTEGER, v TEXT);\nINSERT INTO t VALUES\n" + ",\n".join(rows) + ";\n"
    got, errors, refused = load(tmp_path, dump, "sqlite", Limits(200_000, 100_000))
    assert len(got) == 199_999 and (150_000, "row 150000") not in got and got[-1] == (199_999, "row 199999")
    assert errors == [(150_003, f"INSERT row refused: {detail}")] and refused == {"row over --max-row-bytes": 1}


def test_long_statements_that_do_not_load_are_passed_over(tmp_path):
    huge = "u" * 1_500_000                                          # over STREAM_CHARS and the row limit
    dump = (f"CREATE TABLE t (id INTEGER, v TEXT);\nUPDATE t SET v = '{huge}';\n"
            f"CREATE TABLE u (v TEXT DEFAULT '{huge}');\nINSERT INTO t VALUES (1, 'after');\n")
    got, errors, refused = load(tmp_path, dump, "sqlite", Limits(100_000, 100_000))
    assert got == [(1, "after")] and refused == {"statement over --max-row-bytes": 1}
    assert errors[0][0] == 3 and "CREATE TABLE statement refused" in errors[0][1]


def test_a_long_insert_that_never_ends_is_one_error(tmp_path):
    dump = "CREATE TABLE t (id INTEGER, v TEXT);\nINSERT INTO t VALUES (1, 'ok'), (2, 'never closed" + "v" * 1_200_000
    got, errors, refused = load(tmp_path, dump, "sqlite")
    assert got == [(1, "ok")] and len(errors) == 1 and "the dump ends inside this row" in errors[0][1]


DUMPS = {
    "mysql": ("CREATE TABLE t (id int, v text);\nINSERT INTO t VALUES (1,'It\\'s \"q\"; C:\\\\dir\\n2'),(2,'two'),\n"
              "(3, 'a(b)c'), (4, CAST('4' AS DECIMAL(10,2))),(5,upper('x')),(6,'six /* not a comment */')"
              " ON DUPLICATE KEY UPDATE v=VALUES(v);\nINSERT INTO t VALUES (7,'seven'),(8,'eight');\n"
              "INSERT INTO t VALUES (9, 'nine' 'broken'),(10,'ten');\n"),
    "postgres": ("CREATE TABLE t (id integer, v text);\nINSERT INTO t VALUES (1, E'a\\nb'), (2, $$dollar ; ' q$$),"
                 " (3, 'x'::text), (4, (SELECT 'sub'));\nINSERT INTO t VALUES (5, 'five') ON CONFLICT DO NOTHING;\n"),
    "sqlite": ("CREATE TABLE t (id INTEGER, v TEXT);\nINSERT INTO t VALUES(1,replace('a\\nb','\\n',char(10)));\n"
               "INSERT INTO t VALUES (3, 'x'), (4, 'y' || 'z'), (5, X'414243'), (6, '-- ; /* ''');\n"),
}


@pytest.mark.parametrize("dialect", sorted(DUMPS))
def test_reading_by_batch_gives_what_reading_whole_gives(tmp_path, monkeypatch, dialect):
    """Every INSERT read by batch (tiny read chunks and batches) loads and refuses the same rows,
    with the same lines, as when each is read whole."""
    whole = load(tmp_path, DUMPS[dialect], dialect)
    assert whole[0] and whole[1]                                   # rows load, and some are refused or fail
    for chunk, long, batch in [(7, 16, 10), (64, 32, 40), (1, 1, 1)]:
        monkeypatch.setattr(split, "CHUNK_CHARS", chunk)
        monkeypatch.setattr(stream, "STREAM_CHARS", long)
        monkeypatch.setattr(stream, "BATCH_CHARS", batch)
        assert load(tmp_path, DUMPS[dialect], dialect) == whole, (chunk, long, batch)


def test_real_sample_dumps_have_nothing_refused():
    pairs = [["sakila-schema.sql", "sakila-data-excerpt.sql", "sakila-data-redshift-excerpt.sql"],
             ["pagila-schema-excerpt.sql", "pagila-data-excerpt.sql"],
             ["chinook-mysql-schema-excerpt.sql", "chinook-mysql-data-excerpt.sql"]]
    for names in pairs:
        report = load_dumps([SAMPLES / name for name in names], sqlite3.connect(":memory:"))
        assert report.refused == {} and report.errors == [], names


PEAK = """
import json, sys
from pathlib import Path
from prep.extract.sql.load import connect, load_dumps

def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":"))

base = status("VmRSS")
conn = connect()
report = load_dumps([Path(sys.argv[1])], conn, "mysql", quiet=True)
pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
print(json.dumps({"over_kb": status("VmHWM") - base - pages // 1024, "errors": len(report.errors),
                  "rows": conn.execute("SELECT count(*) FROM t").fetchone()[0]}))
"""


def peak_over_data_kb(tmp_path: Path, rows: int) -> int:
    """Peak memory of loading one INSERT of ``rows`` rows, less what the loaded table holds."""
    path = tmp_path / f"{rows}.sql"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("CREATE TABLE t (id INTEGER, body TEXT);\nINSERT INTO t VALUES ")
        fh.write(",".join(f"({i},'row {i}: it\\'s a line of text')" for i in range(rows)))
        fh.write(";\n")
    done = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(done.stdout)
    assert result["rows"] == rows and result["errors"] == 0
    return result["over_kb"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_peak_memory_does_not_grow_with_one_long_insert(tmp_path):
    # One INSERT of 100,000 rows (4 MB) and of 400,000 (17 MB). Read whole, the long one took 340 MB
    # over its table's pages (the text, its rewrites, SQLite's parse of all of it: 20 times its
    # size); read by batch it takes a read chunk (4 MB) and a batch (1 MB) with SQLite's parse of it
    # (about 20 MB): some 60 MB over the table whatever the statement's length.
    small, large = peak_over_data_kb(tmp_path, 100_000), peak_over_data_kb(tmp_path, 400_000)
    assert large < 100_000, f"{large} KB over the table's pages"
    assert large < small + 24_000, (small, large)
