"""bench/heads.py's last part: fit time of the probes and the head against training size.

Only the committed samples' rows are real embeddings (1,000 and 1,313), so larger sizes use rows
drawn from Gaussians fitted to each set's embeddings (each class's mean, the pooled covariance),
renormalised. No row is a copy of another: rows resampled from the 1000 with a little noise were
near-duplicates, and leave-one-out then favoured the kernel for that alone (a row's near copy
stays in the training set: LOO error 10.9% for linear+rbf against 15.2% for linear, dev accuracy
76.5% against 75.8%), so the default head's timing there was the kernel's. Only the seconds mean
anything at those sizes; a line separates such classes as well as anything can, so the probe
needs fewer iterations on them than on real embeddings (22 at 67,349 binary rows).
"""
from __future__ import annotations

import numpy as np
from _common import table, take_turns

# Added to the pooled covariance's diagonal so its Cholesky factor exists (eigenvalues ~1e-4).
COV_JITTER = 1e-6


def gaussian_rows(x, labels: list, rows: int, seed: int = 0):
    """(rows x d float32 unit rows, labels): class means of ``x`` plus pooled-covariance noise."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    classes = sorted(set(labels))
    which = np.array([classes.index(v) for v in labels])
    means = np.stack([x[which == c].mean(0) for c in range(len(classes))])
    factor = np.linalg.cholesky(np.cov((x - means[which]).T) + COV_JITTER * np.eye(x.shape[1]))
    drawn = which[rng.integers(0, len(which), rows)]  # the sample's class shares
    out = (means[drawn] + rng.standard_normal((rows, x.shape[1])) @ factor.T).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out, [classes[c] for c in drawn]


def run_scale(name: str, data: dict, methods, sizes: list, repeat: int) -> list:
    """Fit seconds of ``methods(x, y)`` on Gaussian rows of each size, fitted to set ``name``'s ``data``."""
    out = []
    for rows in sizes:
        x, y = gaussian_rows(data["x"], data["y"], rows)
        sides = {k: v for k, v in methods(x, y).items() if "dual" not in k}  # n x n at 67k: no
        walls, cpus, fitted = take_turns(sides, repeat, warm_up=True)
        out.append({"set": name, "rows": rows, "dims": int(x.shape[1]), "methods": {
            m: {"fit_s": round(min(walls[m]), 4), "fit_cpu_s": round(min(cpus[m]), 4),
                "features": fitted[m].config["features"]["kind"] if m.startswith("head") else ""} for m in sides}})
    return out


def scale_aims(scale: list, speed) -> list:
    """One line per set: the sizes where the default head fits faster than the logistic probe."""
    lines = []
    for name in dict.fromkeys(r["set"] for r in scale):
        sweep = [r for r in scale if r["set"] == name]
        faster = [r["rows"] for r in sweep
                  if r["methods"]["head (defaults)"]["fit_cpu_s"] < r["methods"]["LogisticRegression"]["fit_cpu_s"]]
        last = sweep[-1]["methods"]
        lines.append(f"- {name}, Gaussian rows: the default head is faster at "
                     + (", ".join(f"{n:,}" for n in faster) + " rows" if faster else "no size measured")
                     + f"; at {sweep[-1]['rows']:,} rows {speed(last['head (defaults)'], last['LogisticRegression'])}.")
    return lines


def scale_table(scale: list) -> list:
    lines = ["## fit time against training size (rows drawn from Gaussians fitted to each set: class means, "
             "pooled covariance; CPU seconds, best of the runs)", ""]
    names = list(scale[0]["methods"]) if scale else []

    def ratio(r):
        return f"{r['methods']['head (defaults)']['fit_cpu_s'] / r['methods']['LogisticRegression']['fit_cpu_s']:.2f}x"
    return lines + table(["set", "rows", *names, "head features", "head / probe"],
                         [[r["set"], f"{r['rows']:,}", *[r["methods"][m]["fit_cpu_s"] for m in names],
                           r["methods"]["head (defaults)"]["features"], ratio(r)] for r in scale])
