"""--engine and --workers on the extract stages that convert their rows in this process (csv, sql).

The flags are accepted on every stage alike, so that a recipe can pass the same ones to each;
here they change nothing in the output, which is the same on every engine because one process
makes it. The rows of a CSV file and the statements of a SQL dump must be read in order (a
quoted field or string may span lines), and what is left to share once they are read costs less
than handing it to another process (2 cores, a quiet machine):
  - csv, 100,000 rows of tests/data/labelled_text/sst2/train.tsv (repeated): the stage took
    1.11-1.20 s in one process; with the row-to-record step on 2 pool workers 1.18-1.35 s (the
    main process alone still spent 0.92-1.03 s CPU reading, counting and writing; 1.7x the CPU
    in all);
  - sql, 60,000 one-row INSERTs of tests/data/sql/chinook-mysql-data-excerpt.sql (repeated):
    the stage took 2.00 s, of which loading the dump into SQLite 1.52 s (splitting statements,
    rewriting them for SQLite, running them: in order by nature) and reading the rows 0.12 s;
    turning rows into records and writing them is the 0.36 s left, so two workers could save
    under 0.2 s (9%) before paying for the hand-over.
"""
from __future__ import annotations

import sys

from prep.core.errors import StageError

NOTE = "rows are converted in this process whatever --engine and --workers say"


def check_engine(args, stage: str) -> None:
    """The engine flags checked as every stage checks them, and a note when they ask for more
    than one process (the output is the same either way)."""
    engine, workers = getattr(args, "engine", "local"), getattr(args, "workers", None)
    if getattr(args, "ray_address", None) and engine != "ray":
        raise StageError("--ray-address joins a Ray cluster: it needs --engine ray")
    if (engine == "ray" or workers not in (None, 1)) and not args.quiet:
        print(f"{stage}: note: {NOTE} (reading them is sequential and the rest costs less than "
              "handing it over; see prep/extract/serial.py)", file=sys.stderr)
