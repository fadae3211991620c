"""The passes over the points that k-means is made of, done in blocks of rows.

Squared distances are ``||x||^2 - 2 x.c + ||c||^2``: one matmul per block, so memory stays
bounded whatever the number of points. On the CPU the rows are cut into fixed ranges that
a pool of threads takes one at a time, torch running single-threaded: one join per pass
instead of one per operation (on a busy machine a per-operation barrier waits for
whichever thread was descheduled, which made passes several times slower). Results are
combined in range order, so the order of the sums depends neither on thread timing nor on
the number of threads. On a GPU one range covers everything.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from prep.core.threads import torch_workers

# Elements of one (rows x k) score block: 2^22 float32 = 16 MiB, whatever n is.
BLOCK_ELEMENTS = 1 << 22
# Rows per block on the CPU: 512 x 384 float32 = 0.75 MiB, stays in cache between the
# distance matmul and the centre sums.
CPU_BLOCK_ROWS = 512
# Blocks per task handed to a CPU thread: 16 x 512 rows, enough work to outweigh the hand-off.
BLOCKS_PER_TASK = 16
# The thread pool of the k-means run in progress (see cpu_threads), if any.
_POOL: ContextVar = ContextVar("kmeans_pool", default=None)


def block_rows(x, k: int) -> int:
    cap = CPU_BLOCK_ROWS if x.device.type == "cpu" else x.shape[0]
    return max(64, min(cap, BLOCK_ELEMENTS // max(k, 1)))


@contextmanager
def cpu_threads(device):
    """For the duration of a k-means run on the CPU: torch single-threaded everywhere, and a
    pool of worker threads (prep.core.threads.torch_workers) to which ``split_rows`` hands
    its ranges. (Small operations between passes stay single-threaded too, so no idle OpenMP
    team spins.)"""
    with torch_workers(device) as pool:
        if pool is None:
            yield
            return
        token = _POOL.set(pool)
        try:
            yield
        finally:
            _POOL.reset(token)


def split_rows(x, rows: int, work) -> list:
    """``work(lo, hi)`` over ranges of ``rows * BLOCKS_PER_TASK`` rows covering ``x``; the
    results in range order. Inside ``cpu_threads`` the ranges go to its pool as threads come
    free (a thread the system holds back just takes fewer); elsewhere they run in turn. The
    ranges do not depend on the thread count, so neither does the order of the sums."""
    n = x.shape[0]
    if x.device.type != "cpu":
        return [work(0, n)]
    step = rows * BLOCKS_PER_TASK
    ranges = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    pool = _POOL.get()
    if pool is None or len(ranges) <= 1:
        return [work(lo, hi) for lo, hi in ranges]
    return list(pool.map(lambda bounds: work(*bounds), ranges))


def add_rows_in_order(sums, labels, block) -> None:
    """sums[labels[i]] += block[i]; on CPU ``index_add_`` goes row by row (deterministic)."""
    sums.index_add_(0, labels, block)


def add_rows_onehot(sums, labels, block) -> None:
    """The same sums as a one-hot matmul: on a GPU ``index_add_`` uses atomic adds, whose
    order (and so the float rounding) changes from run to run."""
    sums.addmm_(torch.nn.functional.one_hot(labels, sums.shape[0]).to(block.dtype).t(), block)


# Device type -> how centre sums are accumulated; any other device uses the one-hot matmul.
ROW_ADDERS = {"cpu": add_rows_in_order}


def assign(x, centres, x_sq=None, with_sums: bool = False):
    """(squared distance, index of the nearest centre[, sums]) for every row; ties -> lowest
    index. ``||x||^2`` does not change the argmin, so it is added only to the winning score.
    With ``with_sums`` the rows are also summed per centre (float64) while each block is in
    cache: one pass over ``x`` per Lloyd iteration.

    Scores are computed as (centres x block), k rows of block-many columns: for k around 50
    the matmul runs about 15% faster in that orientation than as (block x centres).
    """
    k = centres.shape[0]
    c_sq = (centres * centres).sum(1)[:, None]
    best = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    labels = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    rows = block_rows(x, k)
    add = ROW_ADDERS.get(x.device.type, add_rows_onehot)

    def work(lo: int, hi: int):
        sums = torch.zeros_like(centres) if with_sums else None
        views = zip(x[lo:hi].split(rows), best[lo:hi].split(rows), labels[lo:hi].split(rows))
        for block, block_best, block_labels in views:
            scores = torch.addmm(c_sq, centres, block.t(), alpha=-2.0)
            torch.min(scores, dim=0, out=(block_best, block_labels))
            if sums is not None:
                add(sums, block_labels, block)
        return sums

    partials = split_rows(x, rows, work)
    x_sq = (x * x).sum(1) if x_sq is None else x_sq
    d2 = (best + x_sq).clamp_(min=0.0)
    if not with_sums:
        return d2, labels
    sums = torch.zeros(centres.shape, dtype=torch.float64, device=x.device)
    for part in partials:
        sums += part
    return d2, labels, sums


def centre_sums(x, labels, k: int):
    """Per-cluster sums of the rows (k, d) and counts (k,)."""
    rows = block_rows(x, k)
    add = ROW_ADDERS.get(x.device.type, add_rows_onehot)

    def work(lo: int, hi: int):
        sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device)
        for block_labels, block in zip(labels[lo:hi].split(rows), x[lo:hi].split(rows)):
            add(sums, block_labels, block)
        return sums

    partials = split_rows(x, rows, work)
    for part in partials[1:]:
        partials[0] += part
    return partials[0], torch.bincount(labels, minlength=k).to(x.dtype)


def norms_and_mean(x):
    """(||x_i||^2 per row, column means in float64), in one pass over the rows."""
    def work(lo: int, hi: int):
        block = x[lo:hi]
        return (block * block).sum(1), block.sum(0, dtype=torch.float64)

    parts = split_rows(x, CPU_BLOCK_ROWS, work)
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for _, column_sums in parts:
        total += column_sums
    return torch.cat([sq for sq, _ in parts]), total / x.shape[0]


def kmeans_pp(x, k: int, gen, x_sq=None):
    """Greedy k-means++: each new centre is the best of ``2 + ln k`` candidates drawn with
    probability proportional to the squared distance to the nearest centre so far."""
    n = x.shape[0]
    x_sq = (x * x).sum(1) if x_sq is None else x_sq
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=gen))
    centres = torch.empty(k, x.shape[1], dtype=x.dtype, device=x.device)
    centres[0] = x[first]
    closest = (x_sq - 2.0 * (x @ x[first]) + x_sq[first]).clamp_(min=0.0)
    dist = torch.empty(n, trials, dtype=x.dtype, device=x.device)
    rows = block_rows(x, trials)
    for i in range(1, k):
        cumulative = closest.cumsum(0, dtype=torch.float64)
        total = float(cumulative[-1])
        draws = torch.rand(trials, generator=gen, dtype=torch.float64).to(x.device)
        if total > 0:
            candidates = torch.searchsorted(cumulative, draws * total).clamp_(max=n - 1)
        else:  # fewer distinct points than k: any point will do
            candidates = (draws * n).long().clamp_(max=n - 1)
        picked, picked_sq = x[candidates], x_sq[candidates]

        def work(lo: int, hi: int, picked=picked, picked_sq=picked_sq, closest=closest):
            # squared distance to each candidate, then to the nearest centre were it added
            for start in range(lo, hi, rows):
                stop = min(start + rows, hi)
                block = torch.addmm(x_sq[start:stop, None] + picked_sq, x[start:stop], picked.t(), alpha=-2.0)
                torch.minimum(block.clamp_(min=0.0), closest[start:stop, None], out=dist[start:stop])
            return dist[lo:hi].sum(0, dtype=torch.float64)

        potential = sum(split_rows(x, rows, work))
        best = int(torch.argmin(potential))
        closest = dist[:, best].contiguous()
        centres[i] = picked[best]
    return centres
