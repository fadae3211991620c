"""`tunesmith prep extract sql`: dialects, escapes, statements never run, tables and queries."""
from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest
from stage_outputs import outputs, read_jsonl

from prep.extract.sql.load import load_authorizer
from prep.extract.sql.rows import query_authorizer

ROOT = Path(__file__).resolve().parents[1]
FORUM = ROOT / "data" / "raw" / "forum.sql"


def write(tmp_path: Path, text: str, name: str = "dump.sql") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MYSQL_DUMP = r"""-- MySQL dump 10.13
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'row id; never reused',
  `body` text CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
  `kind` enum('a','b') NOT NULL DEFAULT 'a',
  PRIMARY KEY (`id`),
  KEY `k_kind` (`kind`),
  UNIQUE KEY `u_body` (`body`(20))
) ENGINE=InnoDB AUTO_INCREMENT=9 DEFAULT CHARSET=utf8mb4;
LOCK TABLES `t` WRITE;
INSERT INTO `t` VALUES (1,'It\'s \"quoted\"','a'),(2,'two\nlines and a \\ backslash','b'),(3,'doubled ''quote''; semicolon','a');
INSERT INTO `t` VALUES (7,'C:\\','a'),(8,'multi
line','b');
UNLOCK TABLES;
"""


def test_mysql_escapes_and_multirow_inserts(cli, tmp_path):
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", write(tmp_path, MYSQL_DUMP), "--output", out,
                       "--table", "t", "--text-column", "body", "--label-column", "kind")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == [
        "It's \"quoted\"", "two\nlines and a \\ backslash", "doubled 'quote'; semicolon", "C:\\", "multi\nline"]
    assert [r["id"] for r in records] == ["t:1", "t:2", "t:3", "t:7", "t:8"]   # AUTO_INCREMENT key = rowid
    assert records[0]["label"] == "a" and records[0]["meta"]["table"] == "t"
    assert stats["read"] == 5 and stats["kept"] == 5 and rejects == []
    assert stats["loaded_statements"] == {"CREATE TABLE": 1, "INSERT": 2}
    assert stats["skipped_statements"] == {"DROP": 1, "LOCK": 1, "SET": 1, "UNLOCK": 1}
    assert stats["dialect"] == "mysql"
    assert "not executed" in err and "DROP 1" in err


def test_forum_sample(cli, tmp_path):
    out = tmp_path / "forum.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", FORUM, "--output", out, "--table", "questions",
                       "--input-column", "question", "--output-column", "answer", "--label-column", "tags")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert stats["tables"] == {"questions": 12, "users": 5}
    assert stats["read"] == 12 and len(records) == 10
    assert stats["dropped"] == {"empty": 2}
    assert {r["record"]["id"] for r in rejects} == {"questions:5", "questions:8"}
    by_id = {r["id"]: r for r in records}
    assert "don't lift the lid" in by_id["questions:1"]["output"]
    assert 'Which is "correct"?' in by_id["questions:3"]["input"]
    assert "\nDry toasting" in by_id["questions:3"]["output"]
    assert stats["skipped_statements"]["SET"] == 24 and stats["errors"] == 0


def test_statements_other_than_create_and_insert_never_run(cli, tmp_path):
    attached = tmp_path / "attached.db"
    dump = write(tmp_path, f"""CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO t VALUES (1, 'kept'), (2, 'also kept');
ATTACH DATABASE '{attached}' AS x;
CREATE TABLE x.stolen (v TEXT);
PRAGMA writable_schema = 1;
UPDATE t SET body = 'changed';
DELETE FROM t;
DROP TABLE t;
CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t; END;
SELECT load_extension('/tmp/evil.so');
VACUUM;
INSERT INTO t VALUES (3, 'after the noise');
""")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "t",
                       "--text-column", "body")
    assert code == 0, err
    assert not attached.exists()
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["kept", "also kept", "after the noise"]
    assert stats["skipped_statements"] == {"ATTACH": 1, "CREATE TRIGGER": 1, "DELETE": 1, "DROP": 1,
                                           "PRAGMA": 1, "SELECT": 1, "UPDATE": 1, "VACUUM": 1}
    # CREATE TABLE x.stolen: the schema prefix is dropped, so it lands in main, never in a file.
    assert stats["tables"] == {"stolen": 0, "t": 3}
    assert "ATTACH 1" in err and "DROP 1" in err


def test_authorizers_refuse_what_the_classifier_would_skip():
    conn = sqlite3.connect(":memory:")
    conn.set_authorizer(load_authorizer)
    conn.execute("CREATE TABLE t (a TEXT)")
    conn.execute("INSERT INTO t VALUES ('x'), ('y')")
    for statement in ("ATTACH DATABASE ':memory:' AS x", "PRAGMA user_version = 3", "DELETE FROM t",
                      "UPDATE t SET a = 'z'", "DROP TABLE t", "INSERT INTO t VALUES (load_extension('e'))",
                      "INSERT INTO t SELECT a FROM t", "CREATE VIEW v AS SELECT 1"):
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(statement)
    conn.set_authorizer(query_authorizer)
    assert conn.execute("SELECT upper(a) FROM t ORDER BY a").fetchall() == [("X",), ("Y",)]
    for statement in ("INSERT INTO t VALUES ('w')", "SELECT load_extension('e')", "PRAGMA table_info(t)"):
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(statement)


def test_failed_insert_is_an_error_with_its_line(cli, tmp_path):
    dump = write(tmp_path, "CREATE TABLE t (id INTEGER, body TEXT);\nINSERT INTO t VALUES (1, 'one');\n"
                           "INSERT INTO t VALUES (2, 'two' 'broken');\n\nINSERT INTO t VALUES (3);\n"
                           "INSERT INTO t VALUES (4, 'four');\n")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "t",
                       "--text-column", "body")
    assert code == 0
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["one", "four"]
    assert stats["errors"] == 2 and stats["read"] == 4
    assert [r["where"] for r in rejects] == [f"{dump}:3", f"{dump}:5"]
    assert "syntax error" in rejects[0]["detail"] and "2 columns but 1 values" in rejects[1]["detail"]
    assert f"{dump}:3" in err


def test_unknown_table_and_missing_column_list_what_exists(cli, tmp_path):
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", FORUM, "--output", out, "--table", "posts",
                       "--text-column", "body")
    assert code == 2
    assert "no table 'posts'" in err and "questions, users" in err
    assert not out.exists()
    code, _, err = cli("prep", "extract", "sql", "--input", FORUM, "--output", out, "--table", "users",
                       "--text-column", "about")
    assert code == 2
    assert "no column 'about'" in err and "id, handle, joined, bio" in err
    assert not out.exists()


@pytest.mark.parametrize("query, message", [
    ("DELETE FROM questions", "must be a SELECT"),
    ("SELECT 1 AS text; SELECT 2 AS text", "one SELECT statement; got 2"),
    ("ATTACH DATABASE 'x.db' AS x", "starts with ATTACH"),
    ("SELECT load_extension('x') AS text", "not authorized"),
    ("SELECT text FROM nowhere", "tables in the dump: questions, users"),
])
def test_query_refusals(cli, tmp_path, query, message):
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", FORUM, "--output", out, "--query", query)
    assert code == 2
    assert message in err
    assert not out.exists()


def test_query_joins_tables(cli, tmp_path):
    out = tmp_path / "out.jsonl"
    query = ("SELECT q.title AS input, q.answer AS output, u.handle AS label FROM questions q "
             "JOIN users u ON u.id = q.user_id WHERE q.status = 'answered' ORDER BY q.score DESC;")
    code, _, err = cli("prep", "extract", "sql", "--input", FORUM, "--output", out, "--query", query)
    assert code == 0, err
    records, _, stats = outputs(out)
    assert len(records) == 10 and stats["read"] == 10
    assert records[0]["id"] == "query:1" and records[0]["label"] == "tomasz_w"
    assert records[0]["input"] == 'Cast iron: "never use soap"?'


PG_DUMP = """--
-- PostgreSQL database dump
--
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE TABLE public.notes (
    id integer NOT NULL,
    title character varying(80) DEFAULT ''::character varying NOT NULL,
    body text,
    created timestamp without time zone DEFAULT now()
);
CREATE TABLE public.tags (id serial PRIMARY KEY, name text);
CREATE FUNCTION public.touch() RETURNS trigger AS $$
BEGIN
  INSERT INTO public.tags (name) VALUES ('from a function');
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
COPY public.notes (id, title, body, created) FROM stdin;
1	Tabs	a\\tb and \\\\ one backslash	2020-01-01 00:00:00
2	Null body	\\N	\\N
3	Lines	one\\ntwo	\\N
\\.
INSERT INTO public.tags (name) VALUES ('C:\\'), (E'it\\'s\\n'), ('cast'::text);
ALTER TABLE ONLY public.notes ADD CONSTRAINT notes_pkey PRIMARY KEY (id);
"""


def test_postgres_copy_and_strings(cli, tmp_path):
    dump = write(tmp_path, PG_DUMP)
    out = tmp_path / "notes.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "notes",
                       "--text-column", "body", "--id-column", "title")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["a\tb and \\ one backslash", "one\ntwo"]
    assert [r["id"] for r in records] == ["notes:Tabs", "notes:Lines"]
    assert rejects[0]["reason"] == "empty"
    assert stats["dialect"] == "postgres"
    assert stats["loaded_statements"]["COPY rows"] == 3
    assert stats["skipped_statements"] == {"ALTER": 1, "CREATE FUNCTION": 1, "SELECT": 1, "SET": 1}
    out = tmp_path / "tags.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "tags",
                       "--text-column", "name")
    assert code == 0, err
    assert [(r["id"], r["text"]) for r in read_jsonl(out)] == [
        ("tags:1", "C:\\"), ("tags:2", "it's\n"), ("tags:3", "cast")]


def test_mysql_trigger_between_delimiters_is_not_run(cli, tmp_path):
    dump = write(tmp_path, """CREATE TABLE `t` (`id` int, `v` text);
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t`
FOR EACH ROW BEGIN
  INSERT INTO `t` VALUES (99, 'from the trigger');
END */;;
DELIMITER ;
INSERT INTO `t` VALUES (1,'one'),(2,'two');
""")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "t",
                       "--text-column", "v")
    assert code == 0, err
    records, _, stats = outputs(out)
    assert [r["text"] for r in records] == ["one", "two"]
    assert stats["skipped_statements"] == {"CREATE TRIGGER": 1, "DELIMITER": 2}


def test_gzip_dump_and_byte_identical_rerun(cli, tmp_path):
    dump = tmp_path / "dump.sql.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as fh:
        fh.write(MYSQL_DUMP)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (first, second):
        code, _, err = cli("prep", "extract", "sql", "--input", dump, "--output", out, "--table", "t",
                           "--text-column", "body", "--quiet")
        assert code == 0, err
    assert first.read_bytes() == second.read_bytes()
    assert len(read_jsonl(first)) == 5
