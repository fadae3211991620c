"""The Ray engine: prep.core.engine's judge run by Ray Data's map_batches.

The main process reads as it does for the local engine and hands the good records over in
windows of WINDOW_RECORDS, each one Ray dataset (``from_items``) mapped with
``prep.core.engine.judge_batch``. A row of that dataset is a whole batch of records, pickled
(exact for any record, where Arrow columns would give every record one schema, filling missing
keys and widening types), with its ordinal in the window: the ordinal puts the verdicts back in
input order, which Ray does not keep. A few windows at a time keep memory flat on any input.

``--ray-address`` (or RAY_ADDRESS) joins a running cluster, whose nodes need tunesmith installed
(Ray's own settings apply: RAY_AUTH_MODE=token and the cluster's token where it asks for one);
otherwise a local cluster of ``workers`` CPUs starts with the stage and stops with it, errors
included. Starting one took 3-8 s here (2 CPUs, a shared machine) and stopping it 1.1-1.6 s; its
first batches wait ~3-4 s more while the workers start.
"""
from __future__ import annotations

import logging
import os
import pickle
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import pyarrow as pa

from prep.core.environ import environ_kept
from prep.core.errors import StageError
from prep.core.work import Work, judge_batch

# Good records per Ray dataset: each costs ~0.3-0.6 s of Ray Data planning and start-up, hidden
# behind the ~10 s two workers spend judging this many records (the next window starts while one
# is judged); a window's records are held twice in the main process (as read and pickled),
# ~100 MB for records of ~1.5 KB, and up to three windows at a time.
WINDOW_RECORDS = 16_384
# Set while a local cluster runs. Ray finds "this node's address" by asking for the route towards a
# public resolver and advertises that address even when told 127.0.0.1; with the first switch
# (meant for laptops) it keeps to the loopback address: a cluster that lives for one stage on one
# machine has no one else to talk to. The second turns off usage reporting (a user's own setting
# of it wins).
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
LOCAL_ENV_DEFAULTS = {"RAY_USAGE_STATS_ENABLED": "0"}


def _import_ray():
    try:
        # Ray: imported only by --engine ray (seconds to import; an optional extra).
        import ray
        import ray._private.ray_constants  # the local-cluster switch _loopback_only turns off
        import ray.data
    except ImportError as exc:
        raise StageError("--engine ray needs Ray: pip install 'tunesmith[ray]' (its pinned version is "
                         "in constraints.txt), or use --engine local --workers N") from exc
    return ray


@contextmanager
def _loopback_only():
    """Ray set up for a local cluster on 127.0.0.1 alone; the environment is put back after."""
    with environ_kept(*LOCAL_ENV, *LOCAL_ENV_DEFAULTS):
        os.environ.update(LOCAL_ENV)
        for name, value in LOCAL_ENV_DEFAULTS.items():
            os.environ.setdefault(name, value)
        ray = _import_ray()
        constants = ray._private.ray_constants
        # Read when Ray is first imported: also set where an earlier import already read it.
        enabled, constants.ENABLE_RAY_CLUSTER = constants.ENABLE_RAY_CLUSTER, False
        try:
            yield ray
        finally:
            constants.ENABLE_RAY_CLUSTER = enabled


@contextmanager
def _cluster(workers: int | None, address: str | None, quiet: bool):
    """Ray, joined at ``address`` or started here with ``workers`` CPUs (None: every usable
    core, as Ray counts them); shut down on leaving."""
    level = logging.ERROR if quiet else logging.WARNING
    if address:
        ray = _import_ray()
        ray.init(address=address, logging_level=level, log_to_driver=not quiet)
        try:
            yield ray
        finally:
            ray.shutdown()
        return
    with _loopback_only() as ray:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=level, log_to_driver=not quiet)
        try:
            yield ray
        finally:
            ray.shutdown()


# Ray Data settings for the stage's datasets, put back after. The stage shows its own progress:
# Ray Data's bars and per-dataset lines would repeat it. Reserving resources per operator keeps
# the operators of a long pipeline from starving each other; ours has one, and the reservation
# only held back CPUs: 40 batches of clean took 7.8-8.1 s with it, 4.7 s without (2 CPUs), as
# long as the same batches sent as plain Ray tasks.
DATA_SETTINGS = {"enable_progress_bars": False, "print_on_execution_start": False,
                 "op_resource_reservation_enabled": False}


@contextmanager
def ray_engine(work: Work, workers: int | None, address: str | None, quiet: bool):
    """As prep.core.engine.local_engine: a function from batches to (reads, verdicts, counts)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    with _cluster(workers, address, quiet) as ray:
        context = ray.data.DataContext.get_current()
        before = {name: getattr(context, name) for name in DATA_SETTINGS if hasattr(context, name)}
        for name in before:
            setattr(context, name, DATA_SETTINGS[name])
        ray_data_log = logging.getLogger("ray.data")
        level = ray_data_log.level
        ray_data_log.setLevel(logging.ERROR)
        try:
            yield lambda batched: _windows(ray, work, batched)
        finally:
            ray_data_log.setLevel(level)
            for name, value in before.items():
                setattr(context, name, value)


def _windows(ray, work: Work, batched) -> Iterator[tuple]:
    """(reads, verdicts, counts) per batch, in input order. The next window is read and handed
    to Ray while the one before it is still judged, so the workers do not wait for the reader
    between windows; at most three windows are held (one applied, two in Ray's hands)."""
    pool = ThreadPoolExecutor(2, thread_name_prefix="ray-window")
    pending: deque = deque()
    try:
        for window in _grouped(batched):
            pending.append(pool.submit(_judge_window, ray, work, window))
            if len(pending) == 2:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:   # stopped early (an error): no wait for windows nobody will read
        pool.shutdown(wait=False, cancel_futures=True)


def _grouped(batched) -> Iterator[list[tuple]]:
    window: list[tuple] = []
    held = 0
    for reads, records in batched:
        window.append((reads, records))
        held += len(records)
        if held >= WINDOW_RECORDS:
            yield window
            window, held = [], 0
    if window:
        yield window


def _judge_window(ray, work: Work, window: list[tuple]) -> list[tuple]:
    """[(reads, verdicts, counts)] of each batch of one window, in input order.

    A row is a whole batch, pickled, with its ordinal ``n``: Ray Data's cost is per row and per
    block, and one row (one block, one task) per batch keeps it to ~1% of the judging.
    """
    rows = [{"n": n, "records": pickle.dumps(records, pickle.HIGHEST_PROTOCOL)}
            for n, (_, records) in enumerate(window) if records]
    judged: list = [([], {}) if not records else None for _, records in window]
    if rows:
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        verdicts = dataset.map_batches(judge_rows, batch_size=1, batch_format="pyarrow", fn_kwargs={"work": work})
        for out in verdicts.iter_batches(batch_size=None, batch_format="pyarrow"):
            for n, result in zip(out.column("n").to_pylist(), out.column("verdicts").to_pylist()):
                judged[n] = pickle.loads(result)
                if isinstance(judged[n], StageError):
                    raise judged[n]   # a worker's setup error: the stage stops with its one line
    missing = sum(result is None for result in judged)
    if missing:
        raise RuntimeError(f"Ray returned no verdicts for {missing} of {len(rows)} batches")
    return [(reads, *result) for (reads, _), result in zip(window, judged)]


def judge_rows(batch, work: Work):
    """In a Ray worker: rows (n, records: a pickled batch) -> rows (n, verdicts: pickled
    ``judge_batch`` result, the verdicts and the counts)."""
    results = [_judged(work, records) for records in batch.column("records").to_pylist()]
    return pa.table({"n": batch.column("n"), "verdicts": pa.array(results, pa.binary())})


def _judged(work: Work, records: bytes) -> bytes:
    """One pickled batch judged, pickled; a StageError (a setting only a worker finds wrong, such
    as a file missing on its node) comes back as the result, to be raised in the main process as
    the one-line error it is. Raised here, Ray would log it and hand back its own wrapped error
    with the worker's traceback."""
    try:
        result = judge_batch(work, pickle.loads(records))
    except StageError as exc:
        result = exc
    return pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
