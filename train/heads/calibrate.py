"""Probabilities from the head's scores: softmax(T * scores), with T fitted in closed form on the
leave-one-out scores.

The model: for a row of class y and another class c, the margin d = s_y - s_c of its
leave-one-out scores is Gaussian with a mean that is the same for every pair of classes and a
shared variance. Linear discriminant analysis then gives the log-odds of y against c as a linear
function of s_y - s_c with slope (E[d | y] + E[d | c]) / Var(d) = 2 mean(d) / var(d), which is
exactly the log-odds of softmax(T s) with T = 2 mean(d) / var(d): mean(d) the average over the
ordered pairs of classes of their mean margin, var(d) the pooled variance around those means. For two classes this is Platt
scaling of the margin with its slope from the class means and the pooled variance (and no
offset, so the most probable class is the one the head predicts). Both moments come from the
leave-one-out pass (lambda_select.LooTotals), so T costs nothing extra and is not fitted on the
rows it is scored on. The probabilities sum to 1 and each class's probability rises with its
score.
"""
from __future__ import annotations


def temperature(scores, labels) -> float:
    """T from leave-one-out ``scores`` (n, k) and the class index of each row; 0 (uniform
    probabilities) when the margins carry no signal or there are too few rows to estimate them."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    n, k = scores.shape
    margins = scores[np.arange(n), labels][:, None] - scores                 # (n, k), 0 on the true class
    other = np.ones((n, k), dtype=bool)
    other[np.arange(n), labels] = False
    # One cell per (true class, other class): its own mean, then the pooled variance around them.
    cells = labels[:, None] * k + np.arange(k)[None, :]
    count = np.bincount(cells[other], minlength=k * k)
    total = np.bincount(cells[other], weights=margins[other], minlength=k * k)
    used = count > 0
    dof = int(count.sum()) - int(used.sum())
    if dof <= 0:
        return 0.0
    cell_mean = np.zeros(k * k)
    cell_mean[used] = total[used] / count[used]
    mean = float(cell_mean[used].mean())  # every pair of classes counts once, whatever its size
    variance = float(((margins[other] - cell_mean[cells[other]]) ** 2).sum()) / dof
    if mean <= 0 or variance <= 0:
        return 0.0
    return 2.0 * mean / variance


def probabilities(scores, temp: float):
    """softmax(temp * scores) per row (numpy float64, rows sum to 1)."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    z = temp * np.asarray(scores, dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
