"""`tunesmith prep extract sql` speed on generated dumps shaped like mysqldump and pg_dump output.

    python bench/sql_extract.py [--quick] [--mb 20]

Half of each dump is text-heavy rows (forum posts: escapes, quotes, newlines, non-ASCII), half
token-dense rows like sakila's payment table; mysqldump's then sakila-data's layout (MySQL), or
pg_dump's COPY blocks. MB/s of the load and of the whole stage, against (same run) the code
before this one (BASELINE_COMMIT, read from git) on a 3 MB dump of the same shape (sakila-data's
size; the full one would take it minutes) and sqlite3's executescript on the same rows as SQLite
SQL (no dialect work: a floor). Writes bench/results/sql_extract.{json,md}.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from _common import best_of, describe, device_info, table, write_results

from prep.core.stage import sidecar
from prep.extract.sql.load import load_dumps
from train.cli import main as tunesmith

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "c01fed5"
BASELINE_FILES = ("dialect", "load", "quotes", "rows", "scan", "schema")  # as they were at BASELINE_COMMIT
WORDS = ("the", "pan", "heat", "oil", "garlic", "slowly", "until", "golden", "add", "salt", "rest",
         "crème", "brûlée", "日本", "it's", "\"quoted\"", "C:\\temp", "50%", "tab\there", "a;b")
STATEMENT_CHARS = 64_000   # mysqldump's extended INSERTs are cut near net_buffer_length


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + ("\n\nSecond paragraph." if rng.random() < 0.3 else "")


def posts(rng: random.Random, count: int):
    """Text-heavy rows: a forum's posts (id, user, title, body, score, created)."""
    for i in range(1, count + 1):
        yield (i, rng.randint(1, 500), text(rng, rng.randint(3, 9)), text(rng, rng.randint(20, 160)),
               round(rng.uniform(0, 100), 2), f"2021-0{1 + i % 9}-1{i % 9} 0{i % 10}:1{i % 6}:2{i % 10}")


def payments(rng: random.Random, count: int):
    """Token-dense rows like sakila's payment table: numbers, amounts as strings, datetimes."""
    for i in range(1, count + 1):
        yield (i, rng.randint(1, 599), rng.randint(1, 2), rng.randint(1, 16049), f"{rng.randint(0, 11)}.99",
               f"2005-0{rng.randint(5, 8)}-{rng.randint(10, 28)} {rng.randint(10, 23)}:{rng.randint(10, 59)}:30",
               "2006-02-15 22:12:30")


def counts(mb: float) -> tuple[int, int]:
    """Rows of posts and of payments that make about ``mb`` MB, half each."""
    return max(1, int(mb * 0.5e6 / 560)), max(1, int(mb * 0.5e6 / 68))


def mysql_literal(value) -> str:
    if not isinstance(value, str):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    return "'" + escaped.replace("\n", "\\n").replace("\t", "\\t") + "'"


MYSQL_PARTS = (
    "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n-- Host: localhost    Database: forum\n"
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!50503 SET NAMES utf8mb4 */;\n"
    "DROP TABLE IF EXISTS `posts`;\n/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
    "CREATE TABLE `posts` (\n  `id` int unsigned NOT NULL AUTO_INCREMENT,\n  `user_id` int NOT NULL,\n"
    "  `title` varchar(200) NOT NULL,\n  `body` mediumtext,\n  `score` decimal(6,2) DEFAULT NULL,\n"
    "  `created` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,\n  PRIMARY KEY (`id`),\n  KEY `k_user` (`user_id`),\n"
    "  FULLTEXT KEY `ft_body` (`body`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n\n"
    "LOCK TABLES `posts` WRITE;\n/*!40000 ALTER TABLE `posts` DISABLE KEYS */;\n",
    "/*!40000 ALTER TABLE `posts` ENABLE KEYS */;\nUNLOCK TABLES;\nDELIMITER ;;\n/*!50003 CREATE*/ /*!50017 "
    "DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `posts_touch` BEFORE UPDATE ON `posts` FOR EACH ROW BEGIN\n"
    "  SET NEW.created = NOW();\nEND */;;\nDELIMITER ;\n\nCREATE TABLE payment (\n"
    "  payment_id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,\n  customer_id SMALLINT UNSIGNED NOT NULL,\n"
    "  staff_id TINYINT UNSIGNED NOT NULL,\n  rental_id INT DEFAULT NULL,\n  amount DECIMAL(5,2) NOT NULL,\n"
    "  payment_date DATETIME NOT NULL,\n  last_update TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n"
    "  PRIMARY KEY  (payment_id)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\nSET AUTOCOMMIT=0;\n",
    "COMMIT;\n")
SQLITE_PARTS = ("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INT, title TEXT, body TEXT, score NUMERIC, "
                "created TEXT);\nCREATE TABLE payment (payment_id INTEGER PRIMARY KEY, customer_id INT, staff_id INT, "
                "rental_id INT, amount NUMERIC, payment_date TEXT, last_update TEXT);\n", "", "")


def sqlite_literal(value) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)


def extended_inserts(table: str, rows, literal, limit: int, sep: str = ",") -> str:
    out, batch, size = [], [], 0
    for row in rows:
        batch.append("(" + ",".join(map(literal, row)) + ")")
        size += len(batch[-1])
        if size > limit:
            out.append(f"INSERT INTO {table} VALUES " + sep.join(batch) + ";\n")
            batch, size = [], 0
    return "".join(out) + (f"INSERT INTO {table} VALUES " + sep.join(batch) + ";\n" if batch else "")


def insert_dump(mb: float, literal=mysql_literal, parts=MYSQL_PARTS) -> str:
    """mysqldump's layout (64 KB INSERTs) for posts, then sakila-data's (one row a line, 1 MB INSERTs)."""
    rng, (n_posts, n_payments) = random.Random(7), counts(mb)
    return (parts[0] + extended_inserts("posts", posts(rng, n_posts), literal, STATEMENT_CHARS) + parts[1]
            + extended_inserts("payment", payments(rng, n_payments), literal, 16 * STATEMENT_CHARS, ",\n")
            + parts[2])


def pg_field(value) -> str:
    if not isinstance(value, str):
        return "\\N" if value is None else str(value)
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def pg_table(name: str, columns: str, rows) -> str:
    lines = "".join("\t".join(map(pg_field, row)) + "\n" for row in rows)
    return (f"CREATE TABLE public.{name} (\n    {columns}\n);\n\nALTER TABLE public.{name} OWNER TO postgres;\n"
            f"\nCOPY public.{name} FROM stdin;\n{lines}\\.\n\n\n")


def pg_dump(mb: float) -> str:
    rng, (n_posts, n_payments) = random.Random(7), counts(mb)
    nulls = ((*row[:4], None if row[0] % 13 == 0 else row[4], row[5]) for row in posts(rng, n_posts))
    return ("--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n"
            "SET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n"
            + pg_table("posts", "id integer NOT NULL,\n    user_id integer NOT NULL,\n    title character "
                       "varying(200) NOT NULL,\n    body text,\n    score numeric(6,2),\n    created timestamp "
                       "without time zone DEFAULT now() NOT NULL", nulls)
            + pg_table("payment", "payment_id integer NOT NULL,\n    customer_id smallint NOT NULL,\n    staff_id "
                       "smallint NOT NULL,\n    rental_id integer NOT NULL,\n    amount numeric(5,2) NOT NULL,\n"
                       "    payment_date timestamp without time zone NOT NULL,\n    last_update timestamp",
                       payments(rng, n_payments))
            + "ALTER TABLE ONLY public.posts\n    ADD CONSTRAINT posts_pkey PRIMARY KEY (id);\n\n"
              "--\n-- PostgreSQL database dump complete\n--\n")


def baseline_loader():
    """load.py as it was at BASELINE_COMMIT, imported from git as ``sql_before``; None without git."""
    folder = Path(tempfile.mkdtemp(prefix="sql-before-")) / "sql_before"
    folder.mkdir()
    try:
        for name in BASELINE_FILES:
            source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:prep/extract/sql/{name}.py"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout
            (folder / f"{name}.py").write_text(source.replace("prep.extract.sql.", "sql_before."))
    except (OSError, subprocess.CalledProcessError):
        return None
    (folder / "__init__.py").write_text("")
    # A package of its own name, registered from its folder: no search path is changed.
    spec = importlib.util.spec_from_file_location("sql_before", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["sql_before"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("sql_before.load")


def rows_loaded(load) -> int:
    """``load(conn)`` on a fresh in-memory database; the rows it holds after."""
    conn = sqlite3.connect(":memory:")
    load(conn)
    return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("posts", "payment"))


def stage_seconds(path: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, the stats file's seconds) of one whole `tunesmith prep extract sql` run."""
    start = time.perf_counter()
    code = tunesmith(["prep", "extract", "sql", "--input", str(path), "--output", str(out), "--table", "posts",
                      "--text-column", "body", "--quiet"])
    assert code == 0, f"extract sql exited {code} on {path}"
    return time.perf_counter() - start, json.loads(sidecar(out, ".stats.json").read_text())["seconds"]


def measure(args, folder: Path) -> list[dict]:
    dumps = {}
    for kind, write in (("mysql", insert_dump), ("postgres", pg_dump)):
        for size, mb in (("small", args.small_mb), ("full", args.mb)):
            path = folder / f"{kind}-{size}.sql"
            path.write_text(write(mb), encoding="utf-8")
            dumps[kind, size] = (path, sum(counts(mb)))
    stage_seconds(dumps["mysql", "small"][0], folder / "warm-up.jsonl")   # imports, parser: not timed
    before = baseline_loader()
    results = []
    for (kind, size), (path, expected) in dumps.items():
        mb = path.stat().st_size / 1e6
        wall, cpu, loaded = best_of(partial(rows_loaded, lambda c, p=path, k=kind: load_dumps([p], c, k, quiet=True)),
                                    args.repeat)
        assert loaded == expected, f"{path}: {loaded} of {expected} rows loaded"
        stage_wall, stats_seconds = min(stage_seconds(path, folder / f"{kind}-{size}.jsonl")
                                        for _ in range(args.repeat))
        results.append(dict(dump=f"{kind}-{size}", mb=mb, implementation="this one", rows=loaded, load_s=wall,
                            load_cpu_s=cpu, stage_s=stage_wall, stats_seconds=stats_seconds))
        if size == "small" and before is not None:   # one run: it is slow, and only its order matters
            wall, cpu, loaded = best_of(partial(rows_loaded, lambda c, p=path, k=kind: before.load_dump(p, c, k, quiet=True)), 1)
            results.append(dict(dump=f"{kind}-{size}", mb=mb, implementation=f"before ({BASELINE_COMMIT})",
                                rows=loaded, load_s=wall, load_cpu_s=cpu))
    script = insert_dump(args.mb, sqlite_literal, SQLITE_PARTS)
    wall, cpu, loaded = best_of(partial(rows_loaded, lambda c: c.executescript(script)), args.repeat)
    results.append(dict(dump="sqlite-full", mb=len(script.encode()) / 1e6, implementation="sqlite3 executescript",
                        rows=loaded, load_s=wall, load_cpu_s=cpu))
    return results


def ratios(results: list[dict]) -> dict:
    """MB per CPU second of this loader over the old one's (same 3 MB dump) and over SQLite's floor."""
    speed = {(r["dump"], r["implementation"][:6]): r["mb"] / r["load_cpu_s"] for r in results}
    out = {f"{kind}: this / before, same dump": speed[f"{kind}-small", "this o"] / speed[f"{kind}-small", "before"]
           for kind in ("mysql", "postgres") if (f"{kind}-small", "before") in speed}
    out["mysql-full: this / sqlite3 executescript"] = speed["mysql-full", "this o"] / speed["sqlite-full", "sqlite"]
    return out


def report(args, results: list[dict], device: dict) -> str:
    command = "python bench/sql_extract.py" + (" --quick" if args.quick else f" --mb {args.mb:g}")
    rows = [(r["dump"], f"{r['mb']:.2f}", r["implementation"], r["rows"], f"{r['load_s']:.2f}",
             f"{r['mb'] / r['load_s']:.1f}", f"{r['mb'] / r['load_cpu_s']:.1f}",
             f"{r['stage_s']:.2f}" if "stage_s" in r else "-",
             f"{r['mb'] / r['stage_s']:.1f}" if "stage_s" in r else "-", r.get("stats_seconds", "-"))
            for r in results]
    lines = ["# SQL dump extraction", "", describe(command, device), "",
             *table(("dump", "MB", "implementation", "rows", "load s", "load MB/s", "load MB/CPU s", "stage s",
                     "stage MB/s", "stats seconds"), rows), "",
             *(f"- {name}: **{value:.1f}x**" for name, value in ratios(results).items()), "",
             "Load: the dump into an in-memory SQLite database (best of the runs; ratios from CPU seconds, "
             "which a shared machine disturbs least). Stage: the whole `tunesmith prep extract sql` run "
             "(load, rows out as JSONL, stats and rejects), with its stats file's seconds beside it.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="size of the full dumps in MB")
    parser.add_argument("--small-mb", type=float, default=3.0,
                        help="size in MB of the dumps the old implementation reads too (it runs under 1 MB/s)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each load and stage (the best is kept)")
    parser.add_argument("--quick", action="store_true", help="5 MB and 0.3 MB dumps, one run each")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.small_mb, args.repeat = 5.0, 0.3, 1
    with tempfile.TemporaryDirectory(prefix="sql-bench-") as tmp:
        results = measure(args, Path(tmp))
    device = device_info(sqlite=sqlite3.sqlite_version)
    text = report(args, results, device)
    write_results("sql_extract", {"command": sys.argv, "device": device, "results": results,
                                  "ratios": ratios(results)}, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
