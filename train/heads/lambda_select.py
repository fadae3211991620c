"""``--lambda auto``: exact leave-one-out (or GCV) scores of ridge for a whole grid of lambdas, from one
eigendecomposition.

For ridge the fitted values are H Y. The leave-one-out residual of row i is exactly
r_i / (1 - H_ii), with r = Y - H Y, so no refit is needed. Every form used here has
H_ii = c_i + w_i sum_j P_ij^2 f_j(lambda) and fitted values ybar + P diag(f(lambda)) Q:
- dual, K = V diag(s) V^T: P = V, f = s / (s + lambda), Q = V^T Y, c = 0, w = 1;
- primal, G = U diag(s) U^T: P = (Phi - mu) U, f = 1 / (s + lambda), Q = U^T B, w the row
  weights; with an unpenalised intercept c_i = w_i / sum(w) (the intercept's own leverage, the
  rows centred on the weighted means), without one c = 0 and nothing is centred.
So H_ii for every lambda costs one pass over the rows, streamed in blocks.

Criteria (smaller is better):
- loo: mean_i ||r_i / (1 - H_ii)||^2
- gcv: (mean_i ||r_i||^2) / (1 - trace(H) / n)^2 (unweighted forms only)
- loo-accuracy (classification): the share of rows whose leave-one-out scores put the argmax on
  the wrong class; ties go to the smaller loo error.
``loo_scores`` gives the leave-one-out predictions themselves at one lambda (for calibrate.py).
The rows scored need not be all the rows fitted: each row's leave-one-out value is exact for the
fit on all rows, so the mean over a random subset is an unbiased estimate of the full mean.
"""
from __future__ import annotations

import math

from prep.core.errors import StageError
from train.heads.kernels import feature_chunks

# The legacy grid spans 1e-6 to 1e2 times the mean squared norm of a row: 4 points a decade.
GRID_DECADES = (-6.0, 2.0)
GRID_POINTS = 33
# The head's grid spans 1e-7 to 1e1 times the trace of the centred Gram matrix (its total
# variance, which grows with n as lambda's useful range does).
HEAD_DECADES = (-7.0, 1.0)
CRITERIA = ("loo", "gcv", "loo-accuracy")
# Rows x lambdas x outputs held at once while scoring (float64): 4M values = 32 MB.
BLOCK_VALUES = 4_000_000


def lambda_grid(scale: float, decades=GRID_DECADES, points: int = GRID_POINTS) -> list[float]:
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    low, high = decades
    return [float(v) for v in np.logspace(low, high, points) * max(scale, 1e-12)]


def head_grid(gram) -> list[float]:
    return lambda_grid(float(gram.diagonal().sum()), HEAD_DECADES)


class LooTotals:
    """Per-lambda sums over rows: LOO error, squared residual, hat trace, LOO mistakes."""

    def __init__(self, factors, q, ybar=None, labels=None, weight_total: float | None = None):
        # torch: imported here to keep it off the CLI's start-up path
        import torch
        self.factors, self.q = factors, q                  # (p, L), (p, k)
        lams, outputs = factors.shape[1], q.shape[1]
        self.ybar = torch.zeros(outputs, dtype=torch.float64) if ybar is None else ybar
        self.labels, self.weight_total = labels, weight_total
        self.loo, self.sq, self.trace, self.wrong = (torch.zeros(lams, dtype=torch.float64) for _ in range(4))
        self.coef = (factors.unsqueeze(2) * q.unsqueeze(1)).reshape(len(q), lams * outputs)
        self.rows = 0
        self.row_errors: list = []  # per block (b, L): the criterion's own per-row loss

    def errors(self):
        """(rows, lambdas) float64: 1 per leave-one-out mistake (classification), or the row's
        leave-one-out squared error (regression); for comparing candidates row by row."""
        # torch: imported here to keep it off the CLI's start-up path
        import torch
        return torch.cat(self.row_errors)

    def block_rows(self) -> int:
        return max(1, BLOCK_VALUES // (self.factors.shape[1] * self.q.shape[1]))

    def add(self, p, y, start: int, w=None) -> None:
        """One block: ``p`` its rows of P (b, p) float64, ``y`` its targets (b, k), from row ``start``."""
        # torch: imported here to keep it off the CLI's start-up path
        import torch
        lams, outputs = self.factors.shape[1], self.q.shape[1]
        h = (p * p) @ self.factors                                                  # (b, L)
        if w is not None:
            h = h * w.unsqueeze(1)
        if self.weight_total is not None:
            h = h + (w if w is not None else torch.ones(len(p), dtype=h.dtype)).unsqueeze(1) / self.weight_total
        fitted = self.ybar + (p @ self.coef).reshape(len(p), lams, outputs)
        residual = y.unsqueeze(1) - fitted                                          # (b, L, k)
        loo_residual = residual / (1.0 - h).unsqueeze(2)
        row_sq = (loo_residual ** 2).sum(dim=2)                                     # (b, L)
        self.loo += row_sq.sum(0)
        self.sq += (residual ** 2).sum(dim=(0, 2))
        self.trace += h.sum(0)
        if outputs > 1:
            truth = y.argmax(1) if self.labels is None else self.labels[start:start + len(p)]
            wrong = ((y.unsqueeze(1) - loo_residual).argmax(2) != truth.unsqueeze(1)).double()
            self.wrong += wrong.sum(0)
            self.row_errors.append(wrong)
        else:
            self.row_errors.append(row_sq)
        self.rows += len(p)

    def scores(self, criterion: str) -> list:
        n = self.rows
        loo = (self.loo / n).tolist()
        if criterion == "loo":
            return loo
        if criterion == "gcv":
            return ((self.sq / n) / (1.0 - self.trace / n) ** 2).tolist()
        return list(zip((self.wrong / n).tolist(), loo))


def check_criterion(criterion: str, outputs: int) -> str:
    if criterion not in CRITERIA:
        raise StageError(f"unknown lambda criterion {criterion!r}; choose from {', '.join(CRITERIA)}")
    return "loo" if criterion == "loo-accuracy" and outputs == 1 else criterion


def select_dual(kernel, y, lambdas: list[float], criterion: str = "loo"):
    """(best lambda, score per lambda) from one eigendecomposition of K (no intercept, unweighted)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    k = torch.as_tensor(kernel, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    criterion = check_criterion(criterion, y.shape[1])
    s, v = torch.linalg.eigh(k)
    lams = torch.tensor(lambdas, dtype=torch.float64)
    totals = LooTotals(s.unsqueeze(1) / (s.unsqueeze(1) + lams), v.T @ y)
    step = totals.block_rows()
    for start in range(0, len(k), step):
        totals.add(v[start:start + step], y[start:start + step], start)
    return best_of(lambdas, totals.scores(criterion))


def scan(x, featurize, y, moments: dict, eigen, lambdas: list[float], w=None, labels=None):
    """LooTotals over ``lambdas`` for the primal head, streaming the rows once.

    ``moments``: centred_moments()'s dict (mu, ybar, cross, weight, intercept); ``eigen``: (s, U) of
    its Gram matrix; ``labels``: class index per row.
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    y = torch.as_tensor(y, dtype=torch.float64)
    s, u = eigen
    lams = torch.tensor(lambdas, dtype=torch.float64)
    totals = LooTotals(1.0 / (s.clamp(min=0.0).unsqueeze(1) + lams), u.T @ moments["cross"], moments["ybar"],
                       labels, _intercept_weight(moments))
    u32, mu32 = u.to(torch.float32), moments["mu"].to(torch.float32)
    for start, phi in feature_chunks(x, featurize, totals.block_rows()):
        # The projection in float32 (the costly n x p x p product), the sums in float64.
        p = ((phi - mu32) @ u32).double()
        totals.add(p, y[start:start + len(phi)], start, None if w is None else w[start:start + len(phi)])
    return totals


def _intercept_weight(moments: dict) -> float | None:
    """The total row weight where an intercept was fitted (its leverage w_i / total), else None."""
    return moments["weight"] if moments.get("intercept") else None


def loo_scores(x, featurize, y, moments: dict, eigen, lam: float, w=None):
    """Leave-one-out predictions (rows of ``x``, outputs) at one lambda, as numpy float64."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    y = torch.as_tensor(y, dtype=torch.float64)
    s, u = eigen
    factor = 1.0 / (s.clamp(min=0.0) + lam)
    coef = u.T @ moments["cross"] * factor.unsqueeze(1)
    u32, mu32 = u.to(torch.float32), moments["mu"].to(torch.float32)
    out = []
    for start, phi in feature_chunks(x, featurize):
        p = ((phi - mu32) @ u32).double()
        wb = torch.ones(len(p), dtype=torch.float64) if w is None else w[start:start + len(p)]
        h = wb * ((p * p) @ factor)
        if _intercept_weight(moments) is not None:
            h = h + wb / moments["weight"]
        yb = y[start:start + len(p)]
        out.append(yb - (yb - moments["ybar"] - p @ coef) / (1.0 - h).unsqueeze(1))
    return torch.cat(out).numpy()


def select_primal(x, featurize, y, gram, cross, lambdas: list[float], criterion: str = "loo"):
    """(best lambda, score per lambda) for features with no intercept and no weights (legacy form)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    y = torch.as_tensor(y, dtype=torch.float64)
    criterion = check_criterion(criterion, y.shape[1])
    moments = {"mu": torch.zeros(len(gram), dtype=torch.float64), "ybar": torch.zeros(y.shape[1], dtype=torch.float64),
               "cross": cross, "weight": float(len(y)), "intercept": False}
    totals = scan(x, featurize, y, moments, torch.linalg.eigh(gram), lambdas)
    return best_of(lambdas, totals.scores(criterion))


def best_of(lambdas: list[float], scores: list):
    """(lambda, scores) at the smallest finite score; the largest lambda when none is finite."""
    first = [s[0] if isinstance(s, tuple) else s for s in scores]
    finite = [(score, i) for i, score in enumerate(scores) if math.isfinite(first[i])]
    best = min(finite)[1] if finite else len(lambdas) - 1
    return lambdas[best], scores
