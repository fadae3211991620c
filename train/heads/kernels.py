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
# Rows sampled for the median heuristic: 500^2 / 2 = 125k distances put the median within about
# 0.5% of the full one's (and cost 9 ms, not 37 ms, at d = 384 on one thread).
MEDIAN_SAMPLE = 500
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
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), size=min(len(x), MEDIAN_SAMPLE), replace=False)
    sample = np.asarray(x, dtype=np.float64)[np.sort(rows)]
    norms = (sample * sample).sum(1)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one BLAS product, 4x cheaper than torch.cdist here.
    sq = (norms[:, None] + norms[None, :] - 2.0 * (sample @ sample.T))[np.triu_indices(len(sample), 1)]
    sq = sq[sq > 0]
    if not len(sq):
        return 1.0
    middle = (len(sq) - 1) // 2  # the lower median, as torch.median gives
    return 1.0 / float(np.partition(sq, middle)[middle])


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
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    rows = np.ascontiguousarray(x, dtype=np.float32)
    n = len(rows)
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    norms = np.einsum("ij,ij->i", rows, rows)

    def distance(pick: int):
        return np.maximum(norms + norms[pick] - 2.0 * (rows @ rows[pick]), 0.0)
    chosen = [int(rng.integers(n))]
    dist = distance(chosen[0])
    # In numpy, in place: the loop is m small steps, where torch's per-call overhead doubled the cost.
    for _ in range(m - 1):
        cum = np.cumsum(dist, dtype=np.float64)
        if cum[-1] > 0:
            pick = min(int(np.searchsorted(cum, rng.random() * float(cum[-1]))), n - 1)
        else:  # every row left coincides with a landmark: draw from the rows not yet chosen
            pick = int(rng.choice(np.setdiff1d(np.arange(n), chosen)))
        chosen.append(pick)
        np.minimum(dist, distance(pick), out=dist)
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
