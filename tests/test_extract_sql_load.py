"""Loading dumps: keys, DELIMITER blocks, tables from column lists, round trips, errors by line."""
from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest
from stage_outputs import outputs

import prep.extract.sql.split as split
from prep.extract.sql.load import load_dumps
from prep.extract.sql.quotes import _E_ESCAPE, _c_escape, decode_copy_field, mysql_decoder, mysql_fast_decoder

# Quotes, backslashes, newlines (LF and CRLF), a tab, a NUL-free control character, non-ASCII,
# a semicolon and comment-looking text: what a dump must carry through unchanged.
NASTY = "It's a \"test\"; C:\\dir\\ and \\n (not a newline)\nline two\r\nline\tthree \x07 crème 日本 -- /* # $$"


def mysql_quote(text: str) -> str:
    """As mysqldump writes a string."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    return "'" + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "'"


def load(tmp_path: Path, text: str, dialect: str = "auto", name: str = "dump.sql"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    conn = sqlite3.connect(":memory:")
    return conn, load_dumps([path], conn, dialect)


@pytest.mark.parametrize("create", [
    "CREATE TABLE t (a int, b text, PRIMARY KEY (a))",
    "CREATE TABLE `t` (`a` varchar(10) NOT NULL, `b` text, PRIMARY KEY (`a`,`b`(20)), UNIQUE KEY (`b`))",
    "CREATE TABLE t (a text PRIMARY KEY, b text)",
])
def test_tables_with_keys_that_are_not_the_rowid_load(tmp_path, create):
    conn, report = load(tmp_path, f"{create};\nINSERT INTO t VALUES ('1','x'),('2','y');\n", "mysql")
    assert report.errors == [] and report.loaded == {"CREATE TABLE": 1, "INSERT": 1}
    assert conn.execute("SELECT b FROM t ORDER BY rowid").fetchall() == [("x",), ("y",)]


@pytest.mark.parametrize("delimiter", ["$$", "//", ";;"])
def test_statements_after_a_delimiter_block_are_kept(tmp_path, delimiter):
    dump = f"""CREATE TABLE t (id int, v text);
DELIMITER {delimiter}
CREATE PROCEDURE p()
BEGIN
  INSERT INTO t VALUES (99, 'from the procedure; never run');
  SELECT 'a {delimiter} inside a string';
END {delimiter}
DELIMITER ;
INSERT INTO t VALUES (1, 'one');
INSERT INTO t VALUES (2, 'two');
"""
    conn, report = load(tmp_path, dump, "mysql")
    assert conn.execute("SELECT id, v FROM t").fetchall() == [(1, "one"), (2, "two")]
    assert report.skipped == {"CREATE PROCEDURE": 1, "DELIMITER": 2} and report.errors == []


def test_a_trigger_body_without_delimiter_stays_one_statement(tmp_path):
    dump = ("CREATE TABLE t (id INTEGER, v TEXT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
            "  UPDATE t SET v = CASE WHEN v IS NULL THEN 'x' END;\n  DELETE FROM t;\nEND;\n"
            "INSERT INTO t VALUES (1, 'kept');\n")
    conn, report = load(tmp_path, dump, "sqlite")
    assert conn.execute("SELECT v FROM t").fetchall() == [("kept",)]
    assert report.skipped == {"CREATE TRIGGER": 1}


@pytest.mark.parametrize("dialect, dump", [
    ("mysql", "CREATE TABLE t (id int, body text);\nINSERT INTO t VALUES (1,{mysql}),(2,'plain');\n"),
    ("postgres", "CREATE TABLE t (id integer, body text);\nINSERT INTO t VALUES (1, {standard}), (2, 'plain');\n"),
    ("postgres", "CREATE TABLE t (id integer, body text);\nINSERT INTO t VALUES (1, E{escaped}), (2, 'plain');\n"),
    ("postgres", "CREATE TABLE t (id integer, body text);\nCOPY t (id, body) FROM stdin;\n1\t{copy}\n2\tplain\n\\.\n"),
    ("sqlite", "CREATE TABLE t (id INTEGER, body TEXT);\nINSERT INTO t VALUES(1,{standard});\nINSERT INTO t VALUES(2,'plain');\n"),
])
def test_a_value_comes_out_byte_identical(cli, tmp_path, dialect, dump):
    text = dump.format(mysql=mysql_quote(NASTY), standard="'" + NASTY.replace("'", "''") + "'",
                       escaped=mysql_quote(NASTY).replace('\\"', '"'),
                       copy=NASTY.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    path = tmp_path / "dump.sql"
    path.write_bytes(text.encode("utf-8"))
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t",
                       "--text-column", "body", "--dialect", dialect)
    assert code == 0, err
    records, _, stats = outputs(out)
    assert [r["text"] for r in records] == [NASTY, "plain"] and stats["errors"] == 0


def test_mysql_value_forms(tmp_path):
    dump = '''/*!40101 SET NAMES utf8mb4 */;
CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(40), `b` blob, `n` int, `g` int GENERATED ALWAYS AS (`n` * 2) STORED,
  `j` json, PRIMARY KEY (`id`));
INSERT INTO `t` (`id`, `v`, `b`, `n`) VALUES (1,_utf8mb4'intro',_binary 0x414243,b'101'),(2,N'national',X'4142',/*!50705 7*/)
  ON DUPLICATE KEY UPDATE `v` = VALUES(`v`);
INSERT IGNORE INTO `t` (`id`, `v`) VALUES (1, 'ignored duplicate'), (3, "double ""quoted""");
REPLACE INTO `t` (`id`, `v`) VALUES (2, 'replaced');
'''
    conn, report = load(tmp_path, "\ufeff" + dump)   # a byte-order mark before the first statement
    assert report.errors == [] and report.skipped == {"SET": 1}
    rows = conn.execute("SELECT id, v, b, n, g FROM t ORDER BY id").fetchall()
    assert rows == [(1, "intro", b"ABC", 5, None), (2, "replaced", None, None, None), (3, 'double "quoted"', None, None, None)]


def test_one_bad_row_of_a_multirow_insert_is_an_error_with_its_line(cli, tmp_path):
    dump = ("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t VALUES (1,'a'),\n(2,'b'),\n"
            "(1,'duplicate key'),\n(3,'c');\nINSERT INTO t VALUES (4,'d');\n")
    path = tmp_path / "dump.sql"
    path.write_text(dump)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["a", "b", "c", "d"]
    assert [r["where"] for r in rejects] == [f"{path}:4"] and "UNIQUE" in rejects[0]["detail"]
    assert stats["errors"] == 1 and stats["read"] == 5


def test_copy_rows_with_errors_and_a_missing_end(tmp_path):
    dump = "CREATE TABLE t (id integer PRIMARY KEY, v text);\nCOPY t (id, v) FROM stdin;\n1\ta\n2\tb\textra\n1\tdup\n3\tc\n"
    conn, report = load(tmp_path, dump, "postgres")
    assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (3, "c")]
    where = sorted((w.rsplit(":", 1)[1], m.split(":")[0]) for w, m, _ in report.errors)
    assert where == [("2", "COPY data has no closing \\. line (a truncated dump?)"), ("4", "COPY row failed"),
                     ("5", "COPY row failed")]


def test_a_quote_that_never_closes_is_one_error(tmp_path):
    conn, report = load(tmp_path, "CREATE TABLE t (v text);\nINSERT INTO t VALUES ('fine');\n"
                                  "INSERT INTO t VALUES ('never closed);\nINSERT INTO t VALUES ('lost');\n", "mysql")
    assert conn.execute("SELECT v FROM t").fetchall() == [("fine",)]
    assert len(report.errors) == 1 and report.errors[0][0].endswith(":3") and "dump ends inside" in report.errors[0][1]


def test_small_read_chunks_give_the_same_result(tmp_path, monkeypatch):
    dump = ("-- comment; with a semicolon\n/* block ; comment */\nCREATE TABLE t (id int, v text);\n"
            "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END $$\nDELIMITER ;\n"
            f"INSERT INTO t VALUES (1,{mysql_quote(NASTY)}),(2,'two');\n# hash comment\nINSERT INTO t VALUES (3,'x');\n")
    expected = load(tmp_path, dump, "mysql")[0].execute("SELECT * FROM t").fetchall()
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr(split, "CHUNK_CHARS", size)
        conn, report = load(tmp_path, dump, "mysql")
        assert conn.execute("SELECT * FROM t").fetchall() == expected and report.errors == [], size
    copy = "CREATE TABLE t (id int, v text);\nCOPY t (id, v) FROM stdin;\n1\ta\\tb\n2\t\\N\n\\.\nINSERT INTO t VALUES (3, 'c');\n"
    monkeypatch.setattr(split, "CHUNK_CHARS", 5)
    conn, report = load(tmp_path, copy, "postgres")
    assert conn.execute("SELECT * FROM t").fetchall() == [(1, "a\tb"), (2, None), (3, "c")] and report.errors == []


def test_postgres_strings_with_standard_conforming_strings_off(tmp_path):
    conn, _ = load(tmp_path, "SET standard_conforming_strings = off;\nCREATE TABLE t (v text);\n"
                             "INSERT INTO t VALUES ('it\\'s; a\\\\b'), ('x''y');\n", "postgres")
    assert conn.execute("SELECT v FROM t").fetchall() == [("it's; a\\b",), ("x'y",)]


def test_nothing_kept_exits_1_and_says_why(cli, tmp_path):
    path = tmp_path / "dump.sql"
    out = tmp_path / "out.jsonl"
    path.write_text("CREATE TABLE t (id int, v text);\n")
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code in (1, 2) and "kept 0 records: table t has no rows" in err
    path.write_text("CREATE TABLE t (id int, v text);\nINSERT INTO t VALUES (1, ''), (2, ' ');\n")
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code in (1, 2) and "all 2 rows of t were dropped (empty 2)" in err


def test_a_reason_over_half_the_rows_is_named(cli, tmp_path):
    # Dropped rows: the Stage names the reason; rows that failed to load: this stage does.
    path = tmp_path / "dump.sql"
    out = tmp_path / "out.jsonl"
    path.write_text("CREATE TABLE t (id int, v text);\nINSERT INTO t VALUES (1,'kept'),(2,''),(3,''),(4,'');\n")
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code == 0 and "warning" in err and "'empty'" in err and "t row 2" in err
    path.write_text("CREATE TABLE t (id int, v text);\nINSERT INTO t VALUES (1,'kept'),(2,'also'),(3,'');\n")
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code == 0 and "warning" not in err
    path.write_text("CREATE TABLE t (id int PRIMARY KEY, v text);\nINSERT INTO t VALUES (1,'kept'),\n(1,'a'),\n(1,'b');\n")
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code == 0 and f"2 of 3 items read were statements or rows that failed to load, e.g. {path}:3" in err


def test_stats_seconds_cover_the_load(cli, tmp_path, monkeypatch):
    import prep.extract.sql.load as load

    def slow_load(*args, **kwargs):
        time.sleep(0.4)
        return load_dumps(*args, **kwargs)
    monkeypatch.setattr(load, "load_dumps", slow_load)  # the stage imports it when it runs
    path = tmp_path / "dump.sql"
    path.write_text("CREATE TABLE t (v text);\nINSERT INTO t VALUES ('x');\n")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", path, "--output", out, "--table", "t", "--text-column", "v")
    assert code == 0, err
    assert outputs(out)[2]["seconds"] >= 0.4


def test_fast_decoders_agree_with_the_regex_ones():
    rng = random.Random(11)
    pieces = ["a", "é", "'", "\\'", "''", '\\"', '""', "\\\\", "\\n", "\\0", "\\Z", "\\%", "\\t", "\\r", "\\x", "\\"]
    copy_pieces = ["a", "\\\\", "\\n", "\\t", "\\r", "\\b", "\\101", "\\x41", "\\N", "N", "\\"]
    slow, fast = mysql_decoder("'"), mysql_fast_decoder("'")
    for _ in range(20000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert fast(raw) == slow(raw), raw
        raw = "".join(rng.choice(copy_pieces) for _ in range(rng.randint(0, 6)))
        assert decode_copy_field(raw) == (None if raw == "\\N" else _E_ESCAPE.sub(_c_escape, raw)), raw
