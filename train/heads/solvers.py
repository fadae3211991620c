"""Closed-form solves for the head: ridge (dual and primal) and T steps of gradient descent.

Notation: K is the n x n kernel matrix, Y the n x k targets, Phi the n x p feature rows
(explicit or Nystrom, see train.heads.kernels), G = Phi^T Phi and B = Phi^T Y. Every solve runs in
float64 through a Cholesky factor or an eigendecomposition; no matrix is ever inverted.

- ridge, dual:   alpha = (K + lambda I)^-1 Y, predictions k(x, X) alpha.
- ridge, primal: W = (G + lambda I)^-1 B, predictions phi(x) W. Same model as the dual for
  the same kernel (W = Phi^T alpha), but the memory is p x p, not n x n.
- gd-equivalent: the exact result of T full-batch gradient steps, from zero and with step
  eta, on the loss (1/2n) (||f(X) - Y||^2 + lambda ||f||^2) over f = Phi w (the linear head
  trained by plain gradient descent on the mean squared error). In the dual the iteration is
  alpha <- alpha - (eta/n) ((K + lambda I) alpha - Y); with (s_i, V) the eigenpairs of the
  scaled matrix (K + lambda I)/n,
      alpha_T = V diag((1 - (1 - eta s_i)^T) / s_i) V^T Y / n,
  whose factor tends to eta T as s_i -> 0. The primal form uses (G + lambda I)/n and B/n.
- batch-aware (kept from the seed for comparison): inverse((K + lambda I) b + lambda I) Y
  with b = (n // batch_size) * learning_rate * epochs. Since (K + lambda I) b + lambda I =
  b (K + lambda (1 + 1/b) I), it is ridge with lambda' = lambda (1 + 1/b), scaled by 1/b.

The head itself solves the primal with an unpenalised intercept and row weights w (class
balancing): minimise sum_i w_i ||y_i - b - W^T phi_i||^2 + lambda ||W||^2. Setting the gradient
in b to zero gives b = ybar - W^T mu with the weighted means mu, ybar, so W solves ridge on the
centred rows: (G + lambda I) W = B with G = sum_i w_i (phi_i - mu)(phi_i - mu)^T and
B = sum_i w_i (phi_i - mu)(y_i - ybar)^T (``centred_moments``). With G = U diag(s) U^T,
W = U diag(1 / (s + lambda)) U^T B for any lambda (``eigen_solve``).
"""
from __future__ import annotations

import math

from prep.core.errors import StageError
from train.heads.kernels import feature_chunks


def gram_stats(x, featurize, y):
    """G = Phi^T Phi and B = Phi^T Y, accumulated in float64 over float32 blocks of rows.

    Each block's product runs in float32 (the fast BLAS path) and is added to float64
    sums, so n = 1,000,000 rows cost p x p memory and never n x n.
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    y = torch.as_tensor(y)
    gram = None
    cross = None
    for start, phi in feature_chunks(x, featurize):
        part = y[start:start + len(phi)].to(phi.dtype)
        block_g = (phi.T @ phi).to(torch.float64)
        block_b = (phi.T @ part).to(torch.float64)
        gram = block_g if gram is None else gram.add_(block_g)
        cross = block_b if cross is None else cross.add_(block_b)
    return gram, cross


def centred_moments(x, featurize, y, w=None, intercept: bool = True):
    """Weighted, centred sums for the primal solve: {"mu", "ybar", "gram", "cross", "weight" (the total),
    "rows", "intercept"}.

    Products run on float32 feature blocks (the fast BLAS path) and are summed in float64. To keep
    float32 from cancelling, rows are shifted by the first block's weighted mean before the
    products, and the exact centring is applied afterwards:
    sum w (p - mu)(p - mu)^T = sum w (p - c)(p - c)^T - W (mu - c)(mu - c)^T for any shift c, W the
    total weight. Without an intercept nothing is centred.
    """
    # torch, numpy: imported here to keep them off the CLI's start-up path
    import numpy as np
    import torch
    f64 = torch.float64
    y = torch.as_tensor(y, dtype=f64)
    w = None if w is None else torch.as_tensor(w, dtype=f64)
    total = float(len(y)) if w is None else float(w.sum())
    acc: dict = {}
    buffer = None
    for start, phi in feature_chunks(x, featurize):
        wb = None if w is None else w[start:start + len(phi)]
        yb = y[start:start + len(phi)]
        if not acc:
            first = torch.ones(len(phi), dtype=f64) if wb is None else wb
            # Any shift near the mean will do (the exact centring comes after), so it is summed in the
            # features' dtype (no float64 copy of the block) and subtracted in that dtype below.
            shift = ((first.to(phi.dtype) @ phi) / float(first.sum())).double()
            acc = {"shift": shift if intercept else torch.zeros(phi.shape[1], dtype=f64),
                   "yshift": (first @ yb) / first.sum() if intercept else torch.zeros(y.shape[1], dtype=f64),
                   "gram": 0.0, "cross": 0.0, "psum": 0.0, "ysum": 0.0}
            buffer = np.empty(tuple(phi.shape), dtype=phi.numpy().dtype)
        root = np.ones(len(phi)) if wb is None else wb.sqrt().numpy()
        # One scaled copy A = sqrt(w) (phi - shift) serves every sum: A^T A is the Gram matrix,
        # A^T (sqrt(w) y) the cross term, sqrt(w)^T A the weighted row sum. It is made in place in one
        # reused buffer: a fresh 24 MiB array per block cost more in page faults than the arithmetic
        # (0.20 s against 0.14 s for the moments of 67,349 x 384 rows, one thread).
        a = buffer[:len(phi)]
        np.subtract(phi.numpy(), acc["shift"].numpy().astype(a.dtype), out=a)
        if wb is not None:
            a *= root.astype(a.dtype)[:, None]
        ry = (yb - acc["yshift"]).numpy() * root[:, None]
        acc["gram"] = acc["gram"] + torch.from_numpy(_syrk(a))
        acc["cross"] = acc["cross"] + torch.from_numpy(a.T @ ry.astype(a.dtype)).double()
        acc["psum"] = acc["psum"] + torch.from_numpy(root.astype(a.dtype) @ a).double()
        acc["ysum"] = acc["ysum"] + torch.from_numpy(root @ ry)
    if not bool(torch.isfinite(acc["gram"]).all()):
        _not_finite(x, featurize)
    gram = (acc["gram"] + acc["gram"].T) / 2  # symmetric to the last bit (float32 products are not)
    cross = acc["cross"]
    if intercept:
        dmu, dy = acc["psum"] / total, acc["ysum"] / total
        gram = gram - total * torch.outer(dmu, dmu)
        cross = cross - total * torch.outer(dmu, dy)
    else:
        dmu, dy = torch.zeros_like(acc["shift"]), torch.zeros_like(acc["yshift"])
    return {"mu": acc["shift"] + dmu, "ybar": acc["yshift"] + dy, "gram": gram, "cross": cross, "weight": total,
            "rows": len(y), "intercept": intercept}


def _not_finite(x, featurize) -> None:
    """Raise a StageError for a Gram matrix that is not finite though its rows are (fit_head checks
    them first): products that overflow float32. Checked on the p x p sums, free next to the pass."""
    largest = max(float(phi.abs().max()) for _, phi in feature_chunks(x, featurize))
    raise StageError(f"feature values up to {largest:.3g} overflow float32 products; rescale the embeddings")


def _syrk(a):
    """A^T A of one float32 block of rows, as float64.

    numpy's matmul sees the transposed operand is the same array and calls BLAS's symmetric
    rank-k update (syrk), which computes one triangle: 0.11 s against 0.21 s for torch's general
    product on 67,349 x 384 float32 rows, one thread. This Gram matrix is the fit's main cost.
    """
    return (a.T @ a).astype("float64")


def eigen_solve(s, u, cross, lam: float):
    """W = U diag(1 / (s + lambda)) U^T B, from the eigenpairs (s, U) of G."""
    return u @ ((u.T @ cross) / (s + lam).unsqueeze(1))


def _cholesky(matrix, lam: float, what: str):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info) != 0:
        raise StageError(f"{what} + lambda I is not positive definite at lambda={lam:g} "
                         "(duplicate or collinear embeddings); use a larger --lambda or --lambda auto")
    return factor


def ridge_dual(kernel, y, lam: float):
    """alpha = (K + lambda I)^-1 Y by a Cholesky solve."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    k = torch.as_tensor(kernel, dtype=torch.float64)
    eye = torch.eye(len(k), dtype=torch.float64)
    factor = _cholesky(k + lam * eye, lam, "K")
    return torch.cholesky_solve(torch.as_tensor(y, dtype=torch.float64), factor)


def ridge_primal(gram, cross, lam: float):
    """W = (G + lambda I)^-1 B by a Cholesky solve of the p x p system."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    eye = torch.eye(len(gram), dtype=torch.float64)
    factor = _cholesky(gram + lam * eye, lam, "Phi^T Phi")
    return torch.cholesky_solve(cross, factor)


def gd_factor(s, eta: float, steps: int):
    """(1 - (1 - eta s)^T) / s per eigenvalue, eta T where s = 0.

    For 0 < eta s < 1 the form -expm1(T log1p(-eta s)) / s keeps full precision when eta s
    is tiny (the plain form cancels); elsewhere (eta s >= 1, an oscillating or diverging
    run, exactly as real gradient descent would do) the plain form is used.
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    x = eta * s
    safe_s = torch.where(s == 0, torch.ones_like(s), s)
    stable_x = torch.where((x < 1) & (s != 0), x, torch.zeros_like(x))
    stable = -torch.expm1(steps * torch.log1p(-stable_x)) / safe_s
    plain = (1 - (1 - x) ** steps) / safe_s
    out = torch.where((x < 1) & (s != 0), stable, plain)
    return torch.where(s == 0, torch.full_like(s, eta * steps), out)


def _gd_from_matrix(matrix, rhs, n: int, lam: float, eta: float, steps: int):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    scaled = (matrix + lam * torch.eye(len(matrix), dtype=torch.float64)) / n
    s, v = torch.linalg.eigh(scaled)
    return v @ (gd_factor(s, eta, steps).unsqueeze(1) * (v.T @ (rhs / n)))


def gd_dual(kernel, y, lam: float, eta: float, steps: int):
    """alpha_T after ``steps`` full-batch gradient steps (see the module docstring)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    k = torch.as_tensor(kernel, dtype=torch.float64)
    return _gd_from_matrix(k, torch.as_tensor(y, dtype=torch.float64), len(k), lam, eta, steps)


def gd_primal(gram, cross, n: int, lam: float, eta: float, steps: int):
    """W_T after ``steps`` full-batch gradient steps of the linear head on Phi."""
    return _gd_from_matrix(gram, cross, n, lam, eta, steps)


def gd_steps(n: int, epochs: int, batch_size: int) -> int:
    """T = epochs x ceil(n / batch_size): as many steps as minibatch training would take."""
    return epochs * math.ceil(n / batch_size)


def batch_aware_b(n: int, batch_size: int, learning_rate: float, epochs: int) -> float:
    """The seed's b = (n // batch_size) * learning_rate * epochs."""
    b = (n // batch_size) * learning_rate * epochs
    if b <= 0:
        raise StageError(f"batch-aware needs b = (n // batch_size) * learning_rate * epochs > 0; got "
                         f"n={n}, batch_size={batch_size}, learning_rate={learning_rate}, epochs={epochs}")
    return b
