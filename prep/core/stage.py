"""What every stage shares: counting, the rejects file, the stats file, atomic outputs, progress.

A stage opens a ``Stage``, feeds it what it reads, and says for each item whether it was
kept, dropped (with a reason) or broken (an error). On a clean exit the stats file is
written and every output is renamed into place, the main output last; on any exception
(or a SIGKILL) only temporary files named ``.OUT.tmp-PID`` are left, never a file that
looks complete. The main output may be a folder of parts with a manifest (prep.core.shards).
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from prep.core.atomic import AtomicFile, file_sha256, fsync_folder
from prep.core.errors import StageError
from prep.core.inputs import sidecar, stale_inputs  # noqa: F401 (sidecar: imported from here)
from prep.core.records import RAW_PREVIEW_CHARS, Read, dumps
from prep.core.shapes import type_problem
from prep.core.shards import ShardedOutput


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def progress(items: Iterable, quiet: bool = False, **tqdm_args) -> Iterable:
    """A tqdm bar on a terminal; the bare iterable under ``--quiet`` or in a pipe."""
    if not show_progress(quiet):
        return items
    # tqdm: imported here to keep it off the CLI's start-up path
    from tqdm import tqdm
    return tqdm(items, file=sys.stderr, dynamic_ncols=True, **tqdm_args)


def not_text(record: dict, check_types: bool = True) -> str | None:
    """Why ``record`` is an error at read time (a text field holding a number, a list or null),
    or None. The one test of what ``Stage.good_reads`` yields, which the engines repeat."""
    problem = type_problem(record) if check_types else None
    return None if problem is None else f"not text: {problem}"


class Stage:
    """Counts and files for one run of one stage.

    ``outputs`` maps a name to a path; the first is the main output, whose stats and
    rejects files sit beside it. ``binary_outputs`` names outputs opened in binary mode
    (Arrow). The main output is a folder of parts of at most ``options["shard_records"]``
    records each where that is set (the --shard-records flag of prep.core.flags.add_output, so
    that every stage with that flag shards without code of its own). Use as a context manager.
    """

    def __init__(self, name: str, outputs: dict[str, Path] | Path, options: dict,
                 inputs: Iterable[Path] = (), quiet: bool = False, binary_outputs: Iterable[str] = (),
                 hash_inputs: bool = True):
        if not isinstance(outputs, dict):
            outputs = {"output": Path(outputs)}
        self.name = name
        self.paths = {k: Path(v) for k, v in outputs.items()}
        main = next(iter(self.paths.values()))
        self.stats_path = sidecar(main, ".stats.json")
        self.rejects_path = sidecar(main, ".rejected.jsonl")
        self.options = options
        self.inputs = [Path(p) for p in inputs]
        self.hash_inputs = hash_inputs
        self.quiet = quiet
        self.binary = set(binary_outputs)
        self.part_records = options.get("shard_records") if isinstance(options, dict) else None
        self.read_count = 0
        self.kept = 0
        self.dropped: Counter = Counter()
        self.errors = 0
        self.error_reasons: Counter = Counter()
        self.extra: dict = {}
        self._input_sha256: dict = {}
        self.samples: dict[str, str] = {}   # drop reason -> where and detail of its first record
        self.allow_empty = False            # a stage that may rightly keep nothing sets this
        self._last: tuple[dict, str] | None = None  # the record ``records`` yielded last, and where
        self.files: dict[str, AtomicFile] = {}
        self._rejects: AtomicFile | None = None
        self._start = 0.0

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "Stage":
        self._start = time.perf_counter()
        self._check_outputs()
        self._input_sha256 = {p: file_sha256(p) for p in self.inputs} if self.hash_inputs else {}
        for path, stale in stale_inputs(self._input_sha256):
            self.extra.setdefault("stale_input_stats", []).append(str(stale))
            print(f"{self.name}: warning: {stale} describes another version of {path} (a run killed "
                  "between its renames, or the file changed since): its counts do not apply", file=sys.stderr)
        for key, path in self.paths.items():
            if self._sharded(key):
                self.files[key] = ShardedOutput(path, self.part_records, self.name, self.options)
            else:
                self.files[key] = AtomicFile(path, "wb" if key in self.binary else "w")
        self._rejects = AtomicFile(self.rejects_path)
        return self

    def _sharded(self, key: str) -> bool:
        return bool(self.part_records) and key == next(iter(self.paths))

    def _check_outputs(self) -> None:
        """Before anything is read or opened: outputs that cannot be written as asked."""
        for key, path in self.paths.items():
            if self._sharded(key) and key in self.binary:
                raise StageError(f"{self.name}: {path}: only JSONL outputs are written in parts so far; "
                                 "leave out --shard-records")
            if not self._sharded(key) and path.is_dir():
                raise StageError(f"{self.name}: {path} is a folder (a sharded output?): name a file, or "
                                 "pass --shard-records N (or end the name with '/') to write parts into it")

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            for f in [*self.files.values(), self._rejects]:
                f.abort()
            return False
        stats = None
        try:
            self._check_balance()
            for f in [*self.files.values(), self._rejects]:
                f.sync()
            stats = AtomicFile(self.stats_path)
            summary = self.summary()
            # What each output holds, so that a reader can tell stats that belong to another run
            # (a kill between the renames below) from the stats of the file beside them.
            summary["output_sha256"] = {k: f.digest() for k, f in self.files.items()}
            stats.handle.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
            stats.sync()
        except BaseException:
            for f in [*self.files.values(), self._rejects, *([stats] if stats is not None else [])]:
                f.abort()
            raise
        # Everything is on disk before the first rename; then the sidecars, the main output last.
        self._rejects.rename()
        stats.rename()
        for f in reversed(list(self.files.values())):
            f.rename()
        for folder in {p.parent for p in [*self.paths.values(), self.stats_path]}:
            fsync_folder(folder)
        self._judge()
        return False

    def _judge(self) -> None:
        """A run that kept nothing fails (exit 2); one reason taking most records is named."""
        dropped = sum(self.dropped.values())
        for reason, count in self.dropped.most_common(1):
            if count * 2 > self.read_count:
                print(f"{self.name}: warning: {count} of {self.read_count} records dropped as {reason!r}, "
                      f"e.g. {self.samples.get(reason, '?')}; see {self.rejects_path}", file=sys.stderr)
        if self.kept == 0 and not self.allow_empty:
            raise StageError(f"{self.name}: kept 0 of {self.read_count} records ({dropped} dropped: "
                             f"{dict(self.dropped.most_common(5))}; {self.errors} errors); "
                             f"see {self.rejects_path}")

    def _check_balance(self) -> None:
        total = self.kept + sum(self.dropped.values()) + self.errors
        if total != self.read_count:
            raise RuntimeError(
                f"{self.name}: read {self.read_count} but kept+dropped+errors = {total}; "
                "a record was lost or counted twice (a bug in the stage)")

    # -- counting ----------------------------------------------------------------------
    def handle(self, key: str = "output"):
        """The open text (or binary) handle of an output, for stages that write themselves."""
        return self.files[key].handle

    def read(self, n: int = 1) -> None:
        self.read_count += n

    def keep(self, record: dict | None, key: str = "output") -> None:
        """Count one record as kept; write it unless ``record`` is None (written elsewhere)."""
        self.kept += 1
        if record is not None:
            self.files[key].handle.write(dumps(record))

    def drop(self, record: dict, reason: str, detail: str | None = None, where: str | None = None) -> None:
        """Count one record as dropped; ``reason`` is the short key counted in the stats."""
        self.dropped[reason] += 1
        if where is None and self._last is not None and self._last[0] is record:
            where = self._last[1]
        if reason not in self.samples:
            self.samples[reason] = f"{where or 'a record'}: {detail or reason}"[:300]
        line = {"reason": reason}
        if detail:
            line["detail"] = detail
        if where:
            line["where"] = where
        line["record"] = record
        self._rejects.handle.write(dumps(line))

    def error(self, where: str, reason: str, raw: str | None = None, record: dict | None = None) -> None:
        """Count one broken input item (bad JSON, bad bytes, a row that fails to parse)."""
        self.errors += 1
        # Counted by the kind of error ("invalid JSON", "not UTF-8"), not the exact message.
        self.error_reasons[re.split(r"[:(]| at ", reason, maxsplit=1)[0].strip()] += 1
        line = {"reason": "error", "detail": reason, "where": where}
        if raw is not None:
            # Undecodable bytes a reader kept as lone surrogates are shown as \\udcXX escapes:
            # the rejects file is UTF-8 like every output.
            line["raw"] = raw[:RAW_PREVIEW_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")
        if record is not None:
            line["record"] = record
        self._rejects.handle.write(dumps(line))
        if not self.quiet:
            print(f"{self.name}: skipped {where}: {reason}", file=sys.stderr)

    def good_reads(self, reads: Iterable[Read], desc: str | None = None, check_types: bool = True) -> Iterator[Read]:
        """Count every item read, turn broken ones into errors, yield the good ones (with where).

        ``check_types``: a record whose layout reads text where it holds a number, a list or null
        is an error here, at read time, so that no stage keeps it or writes it on.
        """
        for item in progress(reads, self.quiet, desc=desc or self.name, unit="rec"):
            self.read()
            if item.error is not None:
                self.error(item.where, item.error, item.raw)
                continue
            problem = not_text(item.record, check_types)
            if problem is not None:
                self.error(item.where, problem, record=item.record)
            else:
                yield item

    def records(self, reads: Iterable[Read], desc: str | None = None) -> Iterator[dict]:
        """Like ``good_reads``, yielding the records alone.

        ``drop`` of the record just yielded knows its file:line without being told.
        """
        for item in self.good_reads(reads, desc):
            self._last = (item.record, item.where)
            yield item.record

    def summary(self) -> dict:
        return {
            "stage": self.name,
            "read": self.read_count,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": self.errors,
            "error_reasons": dict(sorted(self.error_reasons.items())),
            "seconds": round(time.perf_counter() - self._start, 3),
            "options": self.options,
            "inputs": [{"path": str(p), "sha256": self._input_sha256.get(p)} for p in self.inputs],
            "outputs": {k: str(v) for k, v in self.paths.items()},
            **self.extra,
        }


def options_of(args, skip: tuple[str, ...] = ("func", "quiet")) -> dict:
    """The parsed flags as a JSON-friendly dict, for the stats file."""
    out = {}
    for key, value in sorted(vars(args).items()):
        if key in skip or callable(value):
            continue
        out[key] = str(value) if isinstance(value, Path) else value
    return out
