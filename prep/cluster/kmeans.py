"""K-means in PyTorch: k-means++ seeding, Lloyd iterations and mini-batch updates, CPU or GPU.

Deterministic for the same input, seed and device (and thread count): random draws come
from a seeded CPU ``torch.Generator`` (so the seeds do not depend on the device), ties go to
the lowest index, and centre sums avoid atomic adds on the GPU. The passes over the points
(distances in bounded blocks, centre sums, seeding) live in ``prep.cluster.kmeans_blocks``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from prep.cluster.kmeans_blocks import assign, centre_sums, cpu_threads, kmeans_pp, norms_and_mean
from prep.core.stage import progress

if TYPE_CHECKING:  # torch is imported inside the functions: `tunesmith --help` stays fast
    import torch

# Above this many points mini-batch k-means is used unless asked otherwise.
MINIBATCH_ABOVE = 500_000
# Mini-batch: stop after this many steps without improvement of the smoothed batch inertia.
MINIBATCH_PATIENCE = 10


@dataclass
class KMeansResult:
    centres: "torch.Tensor"     # (k, d) float32, on the CPU
    labels: "torch.Tensor"      # (n,) int64
    distances: "torch.Tensor"   # (n,) float32 Euclidean distance to the own centre
    inertia: float              # sum of squared distances
    iterations: int             # Lloyd iterations, or mini-batch steps
    converged: bool
    minibatch: bool
    device: str
    # Squared centre shift of the last iteration over the mean per-dimension variance of the
    # data (the units of ``tol``): how far from converged a run that hit max_iter still was.
    last_change: float = 0.0
    tol: float = 0.0


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def reseed_empty(labels, d2, counts):
    """Give each empty cluster the farthest point not yet moved (ties -> lowest index)."""
    empty = torch.nonzero(counts == 0).flatten()
    if empty.numel() == 0:
        return labels, False
    order = torch.sort(d2, descending=True, stable=True).indices[: empty.numel()]
    labels = labels.clone()
    labels[order] = empty
    return labels, True


def lloyd(x, centres, x_sq, max_iter, tol_abs, bar=None):
    """Lloyd iterations from ``centres``; returns (centres, iterations, converged, last shift).
    ``bar``: called with the iterations, wraps them (a progress bar)."""
    k = centres.shape[0]
    shift = math.inf
    for iteration in (bar or iter)(range(1, max_iter + 1)):
        d2, labels, sums = assign(x, centres, x_sq, with_sums=True)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        labels, moved = reseed_empty(labels, d2, counts)
        if moved:
            sums, counts = centre_sums(x, labels, k)
        new = (sums / counts.clamp(min=1.0)[:, None]).to(x.dtype)
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if shift <= tol_abs:
            return centres, iteration, True, shift
    return centres, max_iter, False, shift


def minibatch(x, centres, x_sq, gen, max_iter, tol_abs, batch_size, bar=None):
    """Mini-batch k-means (Sculley 2010): each centre moves towards its batch points with a
    learning rate of 1 / (points it has seen), i.e. it stays the running mean of them.
    Returns (centres, steps, converged, last shift)."""
    n, k = x.shape[0], centres.shape[0]
    seen = torch.zeros(k, dtype=x.dtype, device=x.device)
    steps = max_iter * math.ceil(n / batch_size)
    alpha = min(1.0, 2.0 * batch_size / (n + 1))  # smoothing of the batch inertia
    smoothed, best, stale, shift = None, math.inf, 0, math.inf
    for step in (bar or iter)(range(1, steps + 1)):
        idx = torch.randint(n, (batch_size,), generator=gen).to(x.device)
        batch = x[idx]
        d2, labels, sums = assign(batch, centres, x_sq[idx], with_sums=True)
        sums = sums.to(x.dtype)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        seen += counts
        hit = counts > 0
        old = centres.clone()
        centres[hit] += (sums[hit] - counts[hit, None] * centres[hit]) / seen[hit, None]
        batch_inertia = float(d2.mean())
        smoothed = batch_inertia if smoothed is None else smoothed * (1 - alpha) + batch_inertia * alpha
        best, stale = (smoothed, 0) if smoothed < best else (best, stale + 1)
        shift = float(((centres - old) ** 2).sum())
        if step * batch_size < n:  # no early stop before one pass over the data
            continue
        if stale >= MINIBATCH_PATIENCE or shift <= tol_abs:
            return centres, step, True, shift
    return centres, steps, False, shift


def kmeans(data, k: int, *, seed: int = 42, max_iter: int = 100, tol: float = 1e-4, n_init: int = 1,
           use_minibatch: bool | None = None, batch_size: int = 4096, init=None,
           device: str | None = None, quiet: bool = True) -> KMeansResult:
    """Cluster the rows of ``data`` (numpy array or tensor) into ``k`` groups.

    ``tol`` is relative to the mean per-dimension variance of the data (as the squared
    centre shift of one iteration). ``use_minibatch=None`` picks mini-batch above
    ``MINIBATCH_ABOVE`` points. ``init`` (k, d) skips k-means++. With ``n_init > 1`` the run
    of lowest inertia wins (the first on a tie). ``quiet=False``: a progress bar of the
    iterations of each run on a terminal.
    """
    device = device or default_device()
    x = torch.as_tensor(data, dtype=torch.float32).to(device).contiguous()
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= number of points; got k={k}, n={n}")
    use_minibatch = n > MINIBATCH_ABOVE if use_minibatch is None else use_minibatch
    gen = torch.Generator().manual_seed(seed)
    with cpu_threads(device):
        x_sq, mean = norms_and_mean(x)
        # Mean per-dimension variance = (mean ||x||^2 - ||mean x||^2) / d.
        variance = max(0.0, float(x_sq.double().mean() - (mean * mean).sum())) / x.shape[1]
        best, runs = None, n_init if init is None else 1
        for run in range(1, runs + 1):
            def bar(steps, run=run):
                return progress(steps, quiet, desc=f"k-means run {run}/{runs}", unit="it", leave=False)
            result = one_run(x, x_sq, k, gen, init, use_minibatch, max_iter, tol * variance, batch_size, bar)
            if best is None or result.inertia < best.inertia:
                best = result
    best.device = str(device)
    best.tol = tol
    best.last_change = best.last_change / variance if variance > 0 else 0.0
    return best


def one_run(x, x_sq, k, gen, init, use_minibatch, max_iter, tol_abs, batch_size, bar=None) -> KMeansResult:
    """One seeding and one Lloyd or mini-batch run; ``last_change`` is left in data units."""
    n = x.shape[0]
    if init is not None:
        centres = torch.as_tensor(init, dtype=torch.float32).to(x.device).clone()
    elif use_minibatch:  # seed on a sample: k-means++ costs k passes over its input
        sample = torch.randperm(n, generator=gen)[: min(n, max(3 * batch_size, 10 * k))].to(x.device)
        centres = kmeans_pp(x[sample], k, gen, x_sq[sample])
    else:
        centres = kmeans_pp(x, k, gen, x_sq)
    if use_minibatch:
        centres, iterations, converged, shift = minibatch(x, centres, x_sq, gen, max_iter, tol_abs,
                                                          min(batch_size, n), bar)
    else:
        centres, iterations, converged, shift = lloyd(x, centres, x_sq, max_iter, tol_abs, bar)
    d2, labels = assign(x, centres, x_sq)
    return KMeansResult(centres.cpu(), labels.cpu(), d2.sqrt().cpu(), float(d2.double().sum()), iterations,
                        converged, use_minibatch, "", last_change=shift)
