"""Kernels over embeddings, and the feature maps that let the primal solver stand in for them.

A kernel k(a, b) is one of linear (a.b), cosine (a.b / |a||b|) or rbf (exp(-gamma |a-b|^2)).
Linear and cosine have explicit features (the rows, or the unit rows), so a d x d primal
system replaces the n x n one. For rbf on large n, the Nystrom map
phi(x) = k(x, Z) L^-T, with Z the m landmarks and L L^T = k(Z, Z), gives m features whose
inner products approximate the kernel. ``bias`` appends a constant 1 feature, which is the
kernel k + 1: an intercept, shrunk like every other weight.
"""
from __future__ import annotations

from typing import Iterator

# Rows per block when streaming features: 16384 x 384 float32 is 24 MiB.
CHUNK_ROWS = 16384
# Rows sampled for the median heuristic: 1000^2 / 2 distances is plenty for a median.
MEDIAN_SAMPLE = 1000
# Added to the landmark kernel's diagonal before its Cholesky factor (relative to its mean).
NYSTROM_JITTER = 1e-6


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
# Kernels with explicit features (``explicit_features``); the rest need Nystrom for primal.
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


def explicit_features(name: str, chunk, bias: bool):
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
    """L^-T for the landmark kernel k(Z, Z) = L L^T (m x m, float64)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    kzz = kernel_matrix(name, landmarks, landmarks, gamma)
    jitter = NYSTROM_JITTER * float(kzz.diagonal().mean())
    factor = torch.linalg.cholesky(kzz + jitter * torch.eye(len(kzz), dtype=kzz.dtype))
    eye = torch.eye(len(kzz), dtype=kzz.dtype)
    return torch.linalg.solve_triangular(factor, eye, upper=False).T


def nystrom_features(name: str, chunk, landmarks, projection, gamma: float | None, bias: bool):
    """phi(x) = k(x, Z) L^-T (float32), plus the constant feature when ``bias``."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    t = (kernel_matrix(name, chunk, landmarks, gamma) @ projection).to(torch.float32)
    return _append_one(t) if bias else t


def choose_landmarks(n: int, m: int, seed: int):
    """m distinct row indices, seeded and sorted (a uniform sample)."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, m), replace=False))


def feature_chunks(x, featurize, rows: int | None = None) -> Iterator[tuple[int, object]]:
    """(start row, features of rows start..start+rows) over ``x``, never all at once."""
    rows = rows or CHUNK_ROWS
    for start in range(0, len(x), rows):
        yield start, featurize(x[start:start + rows])
