"""Kernels over embeddings, and the explicit feature maps that let one primal solver serve them all.

A kernel k(a, b) is one of linear (a.b), cosine (a.b / |a||b|) or rbf (exp(-gamma |a-b|^2)).
Linear and cosine have explicit features (the rows, or the unit rows). For rbf, the Nystrom map
phi(x) = k(x, Z) V diag(s)^-1/2, with Z the m landmarks and k(Z, Z) = V diag(s) V^T, gives m
features whose inner products approximate the kernel; with every training row a landmark they
reproduce it exactly on the training rows. ``linear+rbf`` puts both side by side, the linear
block divided by ``scale`` (its RMS row norm, so the two kernels weigh alike): the kernel
(a.b) / scale^2 + k_rbf(a, b). Landmarks come from k-means++ seeding: each next landmark is drawn
with probability proportional to its squared distance from the ones already chosen, so the
landmarks spread over the data instead of piling up where it is dense.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

# Rows per block when streaming features: 16384 x 384 float32 is 24 MiB.
CHUNK_ROWS = 16384
# Rows sampled for the median heuristic: 1000^2 / 2 distances is plenty for a median.
MEDIAN_SAMPLE = 1000
# Eigenvalues of the landmark kernel below this share of the largest are dropped (duplicate or
# nearly duplicate landmarks), instead of being inverted into noise.
NYSTROM_CUTOFF = 1e-10
FEATURE_KINDS = ("linear", "cosine", "rbf", "linear+rbf")


def _linear(a, b, gamma):
    return a @ b.T


def _cosine(a, b, gamma):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T


def _rbf(a, b, gamma):
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1).unsqueeze(0) - 2.0 * (a @ b.T)
    return (-gamma * sq.clamp(min=0.0)).exp()


KERNELS = {"linear": _linear, "cosine": _cosine, "rbf": _rbf}
# Kernels with explicit features (``explicit_features``); rbf needs Nystrom.
EXPLICIT = ("linear", "cosine")


def as_tensor(x, dtype=None):
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


def kernel_matrix(name: str, a, b, gamma: float | None = None, bias: bool = False):
    """k(a_i, b_j) in float64, plus 1 everywhere when ``bias``."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    k = KERNELS[name](as_tensor(a, torch.float64), as_tensor(b, torch.float64), gamma)
    return k + 1.0 if bias else k


def median_gamma(x, seed: int = 0) -> float:
    """1 / median squared distance between rows of a seeded sample (the median heuristic)."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), size=min(len(x), MEDIAN_SAMPLE), replace=False)
    sample = as_tensor(np.asarray(x)[np.sort(rows)], torch.float64)
    sq = torch.cdist(sample, sample).pow(2)
    upper = sq[torch.triu(torch.ones_like(sq, dtype=torch.bool), diagonal=1)]
    median = float(upper[upper > 0].median()) if bool((upper > 0).any()) else 1.0
    return 1.0 / median


@contextmanager
def one_thread():
    """Run torch on one thread inside the block (and restore the count after).

    For the small dense eigendecompositions and the sequential k-means++ loop: threads gain
    little there, and on a machine whose cores are busy a two-thread call was measured to stall
    for seconds (eigh of p = 896: 0.14 s on one thread, 0.3 s to 8 s on two).
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def eigh(matrix):
    """(eigenvalues ascending, eigenvectors) of a symmetric matrix, in float64 on one thread."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    with one_thread():
        return torch.linalg.eigh(torch.as_tensor(matrix, dtype=torch.float64))


def explicit_features(name: str, chunk, bias: bool = False):
    """The feature rows of linear (as is) or cosine (unit rows), in float32."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    t = as_tensor(chunk, torch.float32)
    if name == "cosine":
        t = torch.nn.functional.normalize(t, dim=1)
    return _append_one(t) if bias else t


def _append_one(t):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    return torch.cat([t, torch.ones(t.shape[0], 1, dtype=t.dtype)], dim=1)


def nystrom_map(name: str, landmarks, gamma: float | None):
    """V diag(s)^-1/2 for the landmark kernel k(Z, Z) = V diag(s) V^T (float64, m x r, r <= m)."""
    s, v = eigh(kernel_matrix(name, landmarks, landmarks, gamma))
    keep = s > NYSTROM_CUTOFF * float(s.max())
    return v[:, keep] / s[keep].sqrt()


def nystrom_features(name: str, chunk, landmarks, projection, gamma: float | None, bias: bool = False):
    """phi(x) = k(x, Z) V diag(s)^-1/2 (float32), plus the constant feature when ``bias``.

    Computed in float32 (the n x m x d product is the cost): the squared distances of unit-scale
    rows lose about 1e-7 to cancellation, far below what moves exp(-gamma d).
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    f32 = torch.float32
    k = KERNELS[name](as_tensor(chunk, f32), as_tensor(landmarks, f32), gamma)
    t = k @ projection.to(f32)
    return _append_one(t) if bias else t


def choose_landmarks(n: int, m: int, seed: int):
    """m distinct row indices, seeded and sorted (a uniform sample)."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, m), replace=False))


def kmeanspp_landmarks(x, m: int, seed: int = 0):
    """m row indices of ``x`` by k-means++ seeding (D^2 sampling), seeded and sorted; all rows when m >= n."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch
    rows = as_tensor(x, torch.float32)
    n = len(rows)
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    norms = (rows * rows).sum(1)
    chosen = [int(rng.integers(n))]
    with one_thread():
        dist = (norms + norms[chosen[0]] - 2.0 * (rows @ rows[chosen[0]])).clamp(min=0.0)
        for _ in range(m - 1):
            total = float(dist.sum())
            if total > 0:
                pick = int(np.searchsorted(np.cumsum(dist.double().numpy()), rng.random() * total))
                pick = min(pick, n - 1)
            else:  # every row left coincides with a landmark: draw from the rows not yet chosen
                pick = int(rng.choice(np.setdiff1d(np.arange(n), chosen)))
            chosen.append(pick)
            dist = torch.minimum(dist, (norms + norms[pick] - 2.0 * (rows @ rows[pick])).clamp(min=0.0))
    return np.unique(np.array(chosen))


def feature_map(spec: dict, tensors: dict):
    """A function from a block of rows to its feature rows (float32), for a head's feature ``spec``.

    ``spec``: {"kind": one of FEATURE_KINDS, "gamma": rbf width, "scale": the linear block's
    divisor}; ``tensors``: "landmarks" and "projection" where the kind has an rbf part.
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    kind = spec["kind"]
    if kind in EXPLICIT:
        return lambda chunk: explicit_features(kind, chunk)
    z, proj, gamma = tensors["landmarks"], tensors["projection"], spec["gamma"]
    if kind == "rbf":
        return lambda chunk: nystrom_features("rbf", chunk, z, proj, gamma)
    scale = float(spec.get("scale", 1.0))
    return lambda chunk: torch.cat([explicit_features("linear", chunk) / scale,
                                    nystrom_features("rbf", chunk, z, proj, gamma)], dim=1)


def feature_chunks(x, featurize, rows: int | None = None) -> Iterator[tuple[int, object]]:
    """(start row, features of rows start..start+rows) over ``x``, never all at once."""
    rows = rows or CHUNK_ROWS
    for start in range(0, len(x), rows):
        yield start, featurize(x[start:start + rows])
