"""CPU threads for torch: a container's CPU quota, and pools of single-threaded workers.

torch sizes its thread pool from the cores it can see. A container limited by a CFS quota
(``docker --cpus 2``) still sees every core of the host, so torch runs, say, 32 threads
that the kernel lets run for 2 CPUs' worth of time: each barrier of a matmul then waits for
threads that are throttled. The quota, rounded up, is the useful number of threads.

Embedding and k-means on the CPU hand whole tasks (a batch of texts, a range of rows) to a
pool of that many threads, each running torch single-threaded (``torch_workers``).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch

from prep.core.work import cpu_quota


def useful_threads() -> int:
    """torch's thread count, lowered to the CPU quota where one is set."""
    threads = torch.get_num_threads()
    quota = cpu_quota()
    return threads if quota is None else max(1, min(threads, quota))


@contextmanager
def torch_workers(device: str):
    """On the CPU, with torch running more than one thread: torch single-threaded everywhere
    and a pool of ``useful_threads()`` threads, yielded, that each run whole tasks (a batch of
    texts, a range of rows). One join per task instead of an OpenMP barrier per operation: on
    a busy machine each barrier waits for whichever thread was descheduled, and spinning there
    burnt about half the CPU time of embedding (bench/embed_speed.py). Results do not depend
    on the number of threads, since every task runs single-threaded. Elsewhere: None."""
    threads, useful = torch.get_num_threads(), useful_threads()
    if torch.device(device).type != "cpu" or threads <= 1:
        yield None
        return
    torch.set_num_threads(1)  # read by each new thread when it first runs an operation
    try:
        with ThreadPoolExecutor(useful) as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)


def in_order(pool, fn, items, ahead: int):
    """``fn`` of each of ``items`` in ``pool``, yielded in order, with at most ``ahead`` tasks
    queued or running: ``Executor.map`` would take every item at once, and with them the
    memory of every padded batch of a large input."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
