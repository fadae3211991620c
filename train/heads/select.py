"""The ridge head's search: features and lambda chosen by exact leave-one-out on the training rows.

Candidates (``--kernel``): linear (the embeddings), cosine (unit rows), rbf (Nystrom features)
and auto = linear plus linear+rbf. The rbf width gamma is the median heuristic's times each of
``GAMMA_FACTORS`` (or ``--gamma`` alone); the landmarks are k-means++ seeds among the rows
searched. Each candidate costs one weighted, centred Gram matrix, one eigendecomposition and one
pass over the rows for the leave-one-out scores of every lambda on the grid (lambda_select.py).
For auto, gamma is picked on the rbf block alone (m features, an m x m eigendecomposition per
gamma) and linear+rbf is scored once, at that gamma: its (d + m) x (d + m) eigendecomposition is
the search's largest step (640^2 costs about ten times 256^2 on one thread), paid once instead of
once per gamma, and only when the best rbf probe beats linear by more than one standard error on
its own. A combined kernel that the one-standard-error rule below would then keep while the rbf
block alone loses is rare (on SST-2 and TREC the combined error lay between the two every time),
and skipping it halves the search where the kernel cannot win.
Each candidate keeps its best lambda: the fewest leave-one-out mistakes (classification; ties:
the smaller leave-one-out squared error) or the smallest leave-one-out squared error
(regression). Between candidates the one-standard-error rule applies: the plain linear head
stays unless the best candidate's leave-one-out error is lower by more than one standard error
of the row-by-row difference, so a kernel is kept only where it wins by more than chance would
(and its larger fit is paid for only then).

Up to ``select_rows`` rows the search runs on all of them and its winner is the fit. Above, it
runs on a seeded random subset of that size, and the winning features are then refitted on every
row with lambda searched again for that fit (scored on the sampled rows, whose leave-one-out values
are exact for the fit on every row): the kernel choice needs a sample; lambda, whose best value
moves with n, is chosen for the fit actually made. With an explicit kernel (linear, cosine) there
is nothing to compare, and the sample fit is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from train.heads import kernels, lambda_select, solvers

GAMMA_FACTORS = (0.5, 1.0, 2.0)
# Scanned rows up to this many keep their feature matrix between the passes of one candidate
# (moments, lambda scan, calibration): 2048 x 640 float32 is 5 MiB, and the rbf features of a
# row cost an m x d product and an exp each time they are made.
CACHE_ROWS = 8192


@dataclass
class Evaluated:
    """One candidate scored on some rows: its features, moments, eigenpairs, grid and LOO totals."""
    spec: dict
    tensors: dict
    moments: dict
    eigen: tuple
    grid: list
    totals: object
    index: int
    score: object
    featurize: object = None
    scan_rows: tuple = ()

    def loo_scores(self):
        """Leave-one-out predictions of the scanned rows at the chosen lambda (numpy)."""
        x, y, w, _ = self.scan_rows
        return lambda_select.loo_scores(x, self.featurize, y, self.moments, self.eigen, self.grid[self.index], w)

    def summary(self) -> dict:
        score = self.score if isinstance(self.score, tuple) else (None, self.score)
        return {"kind": self.spec["kind"], "gamma": self.spec.get("gamma"), "lambda": self.grid[self.index],
                "loo_error": score[0], "loo_mse": score[1]}


@dataclass
class Search:
    """What fit_head needs from the search, plus the record of it for head.json."""
    best: Evaluated
    record: dict = field(default_factory=dict)




def _as_is(chunk):
    return chunk


def candidates(x, kernel: str, gamma: float | None, landmarks: int, seed: int) -> list[tuple[dict, dict]]:
    """(feature spec, tensors) for each candidate of ``kernel`` on the rows ``x``."""
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    if kernel in kernels.EXPLICIT:
        return [({"kind": kernel}, {})]
    base = kernels.median_gamma(x, seed)
    gammas = [gamma] if gamma is not None else [base * f for f in GAMMA_FACTORS]
    centred = x - x.mean(axis=0)
    scale = float(np.sqrt((centred.astype(np.float64) ** 2).sum(1).mean())) or 1.0
    # The landmarks do not depend on gamma (D^2 sampling in the embedding space): drawn once.
    z = kernels.as_tensor(np.ascontiguousarray(x[kernels.kmeanspp_landmarks(x, landmarks, seed)]))
    out = [({"kind": "linear"}, {})] if kernel == "auto" else []
    for g in gammas:
        spec = {"kind": "rbf" if kernel == "rbf" else "linear+rbf", "gamma": float(g), "scale": scale}
        out.append((spec, {"landmarks": z, "projection": kernels.nystrom_map("rbf", z, float(g))}))
    return out


def evaluate(fit_rows: tuple, scan_rows: tuple, spec: dict, tensors: dict, lam: float | None,
             criterion: str, intercept: bool) -> Evaluated:
    """Score one candidate: fit on ``fit_rows``, leave-one-out scores on ``scan_rows`` (a subset
    of them, or the same), for every lambda of the grid (or ``lam`` alone). Each is (x, y, w, labels)."""
    featurize = kernels.feature_map(spec, tensors)
    x, y, w, _ = fit_rows
    sx, sy, sw, sl = scan_rows
    scan_map = featurize
    if len(sx) <= CACHE_ROWS:  # made once, read by the three passes over the scanned rows
        sx, scan_map = featurize(sx), _as_is
    if fit_rows is scan_rows:
        x, featurize = sx, scan_map
    moments = solvers.centred_moments(x, featurize, y, w, intercept)
    eigen = kernels.eigh(moments["gram"])
    grid = [lam] if lam is not None else lambda_select.head_grid(moments["gram"])
    totals = lambda_select.scan(sx, scan_map, sy, moments, eigen, grid, sw, sl)
    scores = totals.scores(criterion)
    best, _ = lambda_select.best_of(grid, scores)
    index = grid.index(best)
    return Evaluated(spec, tensors, moments, eigen, grid, totals, index, scores[index], scan_map, (sx, sy, sw, sl))


def _subset(n: int, rows: int, seed: int):
    # numpy: imported here to keep it off the CLI's start-up path
    import numpy as np
    if n <= rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))


def _take(values, rows):
    return values if values is None or rows is None else values[rows]


def search(x, y, w, labels, opts, criterion: str) -> Search:
    """Pick the features and lambda (see the module docstring); ``opts`` is a HeadOptions."""
    exact = opts.solver == "dual"  # every row a landmark: the exact kernel
    rows = None if exact else _subset(len(x), opts.select_rows, opts.seed)
    full = (x, y, w, labels)
    sample = tuple(_take(v, rows) for v in full)
    m = len(sample[0]) if exact else min(opts.landmarks, len(sample[0]))

    def score(spec, tensors):
        return evaluate(sample, sample, spec, tensors, opts.lam, criterion, opts.bias)
    probes, skipped, refit = [], None, rows is not None
    if refit and opts.kernel in kernels.EXPLICIT:  # nothing to compare: straight to every row
        scored, refit = [evaluate(full, sample, {"kind": opts.kernel}, {}, opts.lam, criterion, opts.bias)], False
    else:
        listed = candidates(sample[0], opts.kernel, opts.gamma, m, opts.seed)
        if opts.kernel == "auto" and len(listed) > 2:
            scored = [score(*listed[0])]
            probes = [score({**spec, "kind": "rbf"}, tensors) for spec, tensors in listed[1:]]
            pick = min(range(len(probes)), key=lambda i: (_key(probes[i].score), i))
            if wins_by_one_se(scored[0], probes[pick]):
                scored.append(score(*listed[1 + pick]))
            else:
                skipped = "the rbf features alone do not beat linear by one standard error"
        else:
            scored = [score(spec, tensors) for spec, tensors in listed]
    chosen = one_standard_error(scored)
    best = scored[chosen]
    record = {"rows": len(sample[0]), "landmarks": m if best.tensors else None,
              "candidates": [e.summary() for e in scored], "chosen": chosen,
              "gamma_probes": [e.summary() for e in probes]}
    if skipped:
        record["linear+rbf_skipped"] = skipped
    if refit:  # refit the winner on every row; lambda again, scored on the sample
        best = evaluate(full, sample, best.spec, best.tensors, opts.lam, criterion, opts.bias)
    record["grid"] = [float(v) for v in best.grid]
    record["scores"] = best.totals.scores(criterion)
    return Search(best, record)


def _key(score):
    return score if isinstance(score, tuple) else (score,)


def wins_by_one_se(base: Evaluated, other: Evaluated) -> bool:
    """Whether ``other``'s leave-one-out error is below ``base``'s by more than one standard error of
    their paired per-row difference (both scored on the same rows)."""
    diff = base.totals.errors()[:, base.index] - other.totals.errors()[:, other.index]
    se = float(diff.std()) / max(len(diff), 1) ** 0.5 if len(diff) > 1 else 0.0
    return float(diff.mean()) > se


def one_standard_error(scored: list) -> int:
    """Index of the chosen candidate: the best one, unless the first (the simplest) is within one
    standard error of it on the paired per-row leave-one-out errors."""
    best = min(range(len(scored)), key=lambda i: (_key(scored[i].score), i))
    return best if best and wins_by_one_se(scored[0], scored[best]) else 0
