"""Where a stage's per-record work runs: in this process, in a pool of local processes, or on Ray.

A stage hands its per-record work over as a ``Work``: a factory (a top-level function, importable
by name in any process) and picklable settings (flags, loaded rules; nothing that holds an open
file). ``factory(settings)`` builds a judge once per process; the judge takes a batch of records
and returns ``(results, counts)``: for each record ``(record, reason, detail)`` (reason None:
kept; the record as the stage changed it, written out or shown in the rejects; reason ERROR:
an error, detail saying why, as when an HTML page does not parse), and the counters
the batch moved, shaped like the stage's stats ``extra`` (nested dicts and Counters of numbers).

The main process keeps reading (``Stage.good_reads``: read counts, broken lines and file:line
stay there), sends batches of good records out and applies the verdicts in input order, so
that the output, the rejects and the stats are the same, byte for byte, whichever engine ran
them and with how many workers. A stage with a global step (dedup, cluster, split) can run its
per-record part (hashing, embedding) through this and keep the global step in the main process.

A stage whose output is not the kept records as JSON lines (tokenize writes Arrow) has its judge
return its own payload in place of a kept record and gives ``run_work`` a ``write`` that takes
each kept line (the payload as JSON) in input order; a stage whose output names the input line
(extract jsonl) asks for ``with_where`` and gets ``(file:line, record)`` pairs.
"""
from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
from collections import Counter, deque
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from prep.core.errors import StageError
from prep.core.records import Read
from prep.core.stage import not_text
from prep.core.work import Work, judge_batch, usable_cores

# Records per batch: 0.16-0.21 s of clean or filter work (0.64-0.82 CPU ms a record on real
# records), so the hand-over of a batch (~300 KB pickled and unpickled, ~3 ms) costs under 2%.
BATCH_RECORDS = 256
# Batches queued or running per worker: enough that a worker never waits for the reader, few
# enough that memory holds AHEAD * workers batches whatever the size of the input.
AHEAD = 3
# A verdict's reason that makes the item an error, not a drop (a page that does not parse: what
# only the work finds out); its detail is the error message, as Stage.error takes it.
ERROR = "error"


def first_verdict(record: dict, checks) -> tuple[str | None, str | None]:
    """(reason, detail) of the first of ``checks`` that fails ``record``, else (None, None).

    A check returns None (pass), a reason, or (reason, detail); the rest are not run.
    """
    for check in checks:
        verdict = check(record)
        if verdict is not None:
            return verdict if isinstance(verdict, tuple) else (verdict, None)
    return None, None


def add_counts(into: dict, counts: dict) -> None:
    """Sum ``counts`` into ``into`` (nested dicts and Counters of numbers). Added in input order,
    keys keep the order in which a single process would first have counted them."""
    for key, value in counts.items():
        if isinstance(value, dict):
            add_counts(into.setdefault(key, Counter() if isinstance(value, Counter) else {}), value)
        else:
            into[key] = into.get(key, 0) + value


def batches(reads: Iterable[Read], size: int = BATCH_RECORDS, check_types: bool = True,
            with_where: bool = False) -> Iterator[tuple[list[Read], list]]:
    """The reads in runs holding ``size`` good records, with the broken items among them;
    ``with_where``: each good record as ``(file:line, record)``."""
    chunk: list[Read] = []
    good: list = []
    for item in reads:
        chunk.append(item)
        # Stage.good_reads' own test: only what it yields is judged.
        if item.error is None and not_text(item.record, check_types) is None:
            good.append((item.where, item.record) if with_where else item.record)
        if len(good) == size or len(chunk) >= 4 * size:   # 4x: a long run of broken lines
            yield chunk, good
            chunk, good = [], []
    if chunk:
        yield chunk, good


def worker_count(args) -> int:
    """--workers as a number of local processes: unset 1, 0 every usable core."""
    workers = getattr(args, "workers", None)
    return 1 if workers is None else workers or usable_cores()


_pool_work: Work | None = None   # in a pool worker: the work it was started for
PR_SET_PDEATHSIG = 1   # linux/prctl.h: the signal a process gets when its parent dies


def _start_worker(work: Work, parent: int) -> None:
    global _pool_work
    _pool_work = work
    # Ctrl-C reaches the whole process group: the main process stops the pool; workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Linux: die with the main process, even when it is killed (SIGKILL), rather than find out at
    # the next write and print a broken-pipe traceback. Elsewhere that next write ends the worker.
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError, TypeError):   # no such call (macOS), no C library by that name
        pass
    if os.getppid() != parent:   # the main process died before the line above
        os._exit(1)


def _judge_pooled(records: list[dict]) -> tuple[list[tuple], dict]:
    return judge_batch(_pool_work, records)


def _in_order(pool, batched, ahead: int) -> Iterator[tuple]:
    """``(reads, verdicts, counts)`` per batch in input order, at most ``ahead`` batches out."""
    pending: deque = deque()
    for reads, records in batched:
        pending.append((reads, pool.apply_async(_judge_pooled, (records,))))
        if len(pending) >= ahead:
            reads, result = pending.popleft()
            yield (reads, *result.get())
    while pending:
        reads, result = pending.popleft()
        yield (reads, *result.get())


@contextmanager
def local_engine(work: Work, workers: int):
    """A function from batches to ``(reads, verdicts, counts)`` in input order: in this process
    (1 worker) or in a pool of ``workers`` processes, stopped on leaving."""
    if workers == 1:
        yield lambda batched: ((reads, *judge_batch(work, records)) for reads, records in batched)
        return
    # fork: a worker starts in milliseconds with the modules, and the judge built in this
    # process, already loaded; spawn (where there is no fork) imports them again in each worker.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, _start_worker, (work, os.getpid())) as pool:
        yield lambda batched: _in_order(pool, batched, AHEAD * workers)


def run_work(stage, reads: Iterable[Read], work: Work, args, desc: str | None = None, *,
             size: int | None = None, check_types: bool = True, with_where: bool = False,
             write: Callable[[str], None] | None = None) -> None:
    """Judge every good record of ``reads`` with ``work`` where ``args`` say (--engine, --workers,
    --ray-address), and keep or drop each in input order.

    ``size``: good records per batch (None: BATCH_RECORDS as it is now); ``check_types``: as
    ``Stage.good_reads``; ``with_where``: the judge gets ``(file:line, record)`` pairs (a stage
    whose output names the line); ``write``: takes each kept line in place of the output file
    (a stage that writes another format: the judge's kept "record" is then that stage's payload,
    which travels as its JSON line, and ``write`` decodes it).
    """
    with open_engine(work, args, stage.quiet) as judged:
        _apply(stage, judged(batches(reads, size or BATCH_RECORDS, check_types, with_where)), desc,
               check_types, write)


def open_engine(work: Work, args, quiet: bool):
    """The engine ``args`` ask for (--engine, --workers, --ray-address), as a context manager
    giving a function from ``batches`` to ``(reads, verdicts, counts)`` in input order; for a
    stage that reads its verdicts itself (dedup's signatures) rather than through ``run_work``."""
    # Built here first: a setup error stops the stage before a worker starts; forked workers
    # inherit the judge.
    judge_batch(work, [])
    if getattr(args, "engine", "local") == "ray":
        # Ray takes seconds to import: only on this path.
        from prep.core.engine_ray import ray_engine
        # Unset or 0: Ray counts the usable cores itself (a container's CPU quota included).
        return ray_engine(work, getattr(args, "workers", None) or None, getattr(args, "ray_address", None), quiet)
    if getattr(args, "ray_address", None):
        raise StageError("--ray-address joins a Ray cluster: it needs --engine ray")
    return local_engine(work, worker_count(args))


def _apply(stage, judged: Iterator[tuple], desc: str | None, check_types: bool = True,
           write: Callable[[str], None] | None = None) -> None:
    verdicts: deque = deque()

    def fed() -> Iterator[Read]:
        for reads, batch_verdicts, counts in judged:
            if verdicts:
                raise RuntimeError(f"{stage.name}: {len(verdicts)} verdicts left over from a batch "
                                   "(the engine and Stage.good_reads disagree on what is a good record)")
            verdicts.extend(batch_verdicts)
            add_counts(stage.extra, counts)
            yield from reads

    write = write or stage.handle().write
    for item in stage.good_reads(fed(), desc, check_types):
        if not verdicts:
            raise RuntimeError(f"{stage.name}: no verdict for {item.where} (the engine and "
                               "Stage.good_reads disagree on what is a good record)")
        reason, detail, line = verdicts.popleft()
        if reason is None:
            stage.keep(None)            # counted here, written as the worker wrote it
            write(line)
        elif reason == ERROR:           # the work found the item broken: an error, with detail as why
            stage.error(item.where, detail or "broken")
        else:
            stage.drop(json.loads(line), reason, detail, where=item.where)
    if verdicts:
        raise RuntimeError(f"{stage.name}: {len(verdicts)} verdicts left over at the end")
