"""``--lambda auto``: leave-one-out or GCV error of ridge for a grid of lambdas, one eigendecomposition.

For ridge the fitted values are H Y with the hat matrix H = K (K + lambda I)^-1 (dual) or
Phi (G + lambda I)^-1 Phi^T (primal). The leave-one-out residual of row i is exactly
r_i / (1 - H_ii), with r = Y - H Y, so no refit is needed. Both hat matrices have the form
H = P diag(w(lambda)) P^T with Y's fitted values P diag(w) Q:
- dual, K = V diag(s) V^T: P = V, w = s / (s + lambda), Q = V^T Y;
- primal, G = U diag(sigma) U^T: P = Phi U, w = 1 / (sigma + lambda), Q = U^T Phi^T Y.
So H_ii = sum_j P_ij^2 w_j for every lambda at once, streamed over blocks of rows.

Criteria (smaller is better):
- loo: mean_i ||r_i / (1 - H_ii)||^2
- gcv: (mean_i ||r_i||^2) / (1 - trace(H) / n)^2
- loo-accuracy (classification): the share of rows whose leave-one-out prediction
  Y_i - r_i / (1 - H_ii) has its argmax on the wrong class; ties go to the smaller loo error.
"""
from __future__ import annotations

import math

from prep.core.errors import StageError
from train.heads.kernels import feature_chunks

# The grid spans 1e-6 to 1e2 times the mean squared norm of a row (the kernel's mean
# diagonal), so it follows the scale of the embeddings: 4 points a decade.
GRID_DECADES = (-6.0, 2.0)
GRID_POINTS = 33
CRITERIA = ("loo", "gcv", "loo-accuracy")
# Rows x lambdas x outputs held at once while scoring (float64): 4M values = 32 MB.
BLOCK_VALUES = 4_000_000


def lambda_grid(scale: float) -> list[float]:
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    low, high = GRID_DECADES
    return [float(v) for v in np.logspace(low, high, GRID_POINTS) * max(scale, 1e-12)]


class _Totals:
    """Per-lambda sums over rows: LOO error, squared residual, hat trace, LOO mistakes."""

    def __init__(self, weights, q):
        # torch: imported here to keep it off the CLI's start-up path
        import torch
        self.weights, self.q = weights, q                  # (p, L), (p, k)
        count = weights.shape[1]
        self.loo, self.sq, self.trace, self.wrong = (torch.zeros(count, dtype=torch.float64) for _ in range(4))
        self.rows = 0

    def block_rows(self) -> int:
        return max(1, BLOCK_VALUES // (self.weights.shape[1] * self.q.shape[1]))

    def add(self, p, y) -> None:
        """One block: ``p`` its rows of P (b, p), ``y`` its targets (b, k)."""
        lams, outputs = self.weights.shape[1], self.q.shape[1]
        h = (p * p) @ self.weights                                                  # (b, L)
        coef = (self.weights.unsqueeze(2) * self.q.unsqueeze(1)).reshape(len(self.q), lams * outputs)
        residual = y.unsqueeze(1) - (p @ coef).reshape(len(p), lams, outputs)     # (b, L, k)
        loo_residual = residual / (1.0 - h).unsqueeze(2)
        self.loo += (loo_residual ** 2).sum(dim=(0, 2))
        self.sq += (residual ** 2).sum(dim=(0, 2))
        self.trace += h.sum(0)
        if outputs > 1:
            predicted = (y.unsqueeze(1) - loo_residual).argmax(2)
            self.wrong += (predicted != y.argmax(1).unsqueeze(1)).sum(0)
        self.rows += len(p)

    def scores(self, criterion: str) -> list:
        n = self.rows
        loo = (self.loo / n).tolist()
        if criterion == "loo":
            return loo
        if criterion == "gcv":
            return ((self.sq / n) / (1.0 - self.trace / n) ** 2).tolist()
        return list(zip((self.wrong / n).tolist(), loo))


def _check(criterion: str, outputs: int) -> str:
    if criterion not in CRITERIA:
        raise StageError(f"unknown lambda criterion {criterion!r}; choose from {', '.join(CRITERIA)}")
    return "loo" if criterion == "loo-accuracy" and outputs == 1 else criterion


def select_dual(kernel, y, lambdas: list[float], criterion: str = "loo"):
    """(best lambda, score per lambda) from one eigendecomposition of K."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    k = torch.as_tensor(kernel, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    criterion = _check(criterion, y.shape[1])
    s, v = torch.linalg.eigh(k)
    lams = torch.tensor(lambdas, dtype=torch.float64)
    totals = _Totals(s.unsqueeze(1) / (s.unsqueeze(1) + lams), v.T @ y)
    step = totals.block_rows()
    for start in range(0, len(k), step):
        totals.add(v[start:start + step], y[start:start + step])
    return _best(lambdas, totals.scores(criterion))


def select_primal(x, featurize, y, gram, cross, lambdas: list[float], criterion: str = "loo"):
    """(best lambda, score per lambda) from one eigendecomposition of G, streaming the rows."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    y = torch.as_tensor(y, dtype=torch.float64)
    criterion = _check(criterion, y.shape[1])
    sigma, u = torch.linalg.eigh(gram)
    lams = torch.tensor(lambdas, dtype=torch.float64)
    totals = _Totals(1.0 / (sigma.unsqueeze(1) + lams), u.T @ cross)
    for start, phi in feature_chunks(x, featurize, totals.block_rows()):
        totals.add(phi.to(torch.float64) @ u, y[start:start + len(phi)])
    return _best(lambdas, totals.scores(criterion))


def _best(lambdas: list[float], scores: list):
    first = [s[0] if isinstance(s, tuple) else s for s in scores]
    finite = [(score, i) for i, score in enumerate(scores) if math.isfinite(first[i])]
    best = min(finite)[1] if finite else len(lambdas) - 1
    return lambdas[best], scores
