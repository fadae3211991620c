"""The ridge head's maths against brute force: the unpenalised intercept, the leave-one-out identity with
row weights, the Nystrom path against the exact kernel solve, the closed-form temperature, the
one-standard-error choice of features and the k-means++ landmarks. Small synthetic matrices only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from train.heads import calibrate, kernels, lambda_select, select, solvers
from train.heads.head import HeadOptions, fit_head, head_outputs, predict, predict_proba
from train.heads.targets import class_weights, encode_targets


def problem(n=36, d=5, classes=3, seed=0, spread=1.5):
    """Overlapping Gaussian blobs, unequal class sizes: (x float32, labels)."""
    rng = np.random.default_rng(seed)
    which = np.minimum(rng.integers(0, classes + 1, size=n), classes - 1)  # the last class twice as common
    centres = rng.normal(size=(classes, d))
    x = centres[which] + spread * rng.normal(size=(n, d))
    return x.astype(np.float32), [f"c{i}" for i in which]


def weighted_ridge(z, y, w, lam):
    """Brute force: [b; W] minimising sum_i w_i ||y_i - b - W^T z_i||^2 + lam ||W||^2 (b unpenalised)."""
    a = np.hstack([np.ones((len(z), 1)), z])
    penalty = lam * np.eye(a.shape[1])
    penalty[0, 0] = 0.0
    coef = np.linalg.solve(a.T @ (w[:, None] * a) + penalty, a.T @ (w[:, None] * y))
    return coef[0], coef[1:]


def test_intercept_is_unpenalised():
    x, labels = problem(n=60, seed=1)
    y, _, _ = encode_targets(labels)
    w = class_weights(y, "balanced")
    opts = HeadOptions(kernel="linear", lam=3.0)
    head = fit_head(x, labels, opts)
    b, weights = weighted_ridge(x.astype(np.float64), y, w, 3.0)
    np.testing.assert_allclose(head.tensors["weights"].numpy(), weights, atol=1e-6)
    np.testing.assert_allclose(head.tensors["intercept"].numpy(), b, atol=1e-6)
    # A constant added to every feature moves only the intercept; the weights stay.
    shift = np.linspace(-4.0, 9.0, x.shape[1]).astype(np.float32)
    moved = fit_head(x + shift, labels, opts)
    np.testing.assert_allclose(moved.tensors["weights"].numpy(), head.tensors["weights"].numpy(), atol=1e-5)
    np.testing.assert_allclose(head_outputs(moved, x + shift), head_outputs(head, x), atol=1e-5)
    # A constant added to every target (regression) moves only the intercept, by that constant.
    values = list(x.astype(np.float64) @ np.arange(1.0, 6.0) + np.random.default_rng(2).normal(size=60))
    reg = fit_head(x, values, HeadOptions(kernel="linear", lam=3.0, task="regression"))
    up = fit_head(x, [v + 100.0 for v in values], HeadOptions(kernel="linear", lam=3.0, task="regression"))
    np.testing.assert_allclose(up.tensors["weights"].numpy(), reg.tensors["weights"].numpy(), atol=1e-8)
    assert float(up.tensors["intercept"][0] - reg.tensors["intercept"][0]) == pytest.approx(100.0)
    # The old constant feature was penalised: a far-off constant changed the fit. Without it, no.
    assert not np.allclose(fit_head(x, labels, HeadOptions(kernel="linear", lam=3.0, bias=False)).tensors["weights"],
                           head.tensors["weights"], atol=1e-3)


def brute_force_loo(z, y, w, lam):
    """Leave-one-out predictions by refitting without each row in turn."""
    out = np.zeros_like(y)
    for i in range(len(z)):
        keep = np.arange(len(z)) != i
        b, weights = weighted_ridge(z[keep], y[keep], w[keep], lam)
        out[i] = b + z[i] @ weights
    return out


@pytest.mark.parametrize("weighting", ["balanced", "none"])
def test_leave_one_out_identity_matches_brute_force_refits(weighting):
    x, labels = problem(n=30, seed=3)
    y, _, _ = encode_targets(labels)
    w = class_weights(y, weighting)
    wt = None if w is None else torch.from_numpy(w)
    truth = torch.from_numpy(y.argmax(1))
    rows = (x, y, wt, truth)
    lams = [0.05, 0.7, 9.0]
    found = select.evaluate(rows, rows, {"kind": "linear"}, {}, None, "loo-accuracy", True)
    z, wn = x.astype(np.float64), np.ones(len(x)) if w is None else w
    for lam in lams:
        brute = brute_force_loo(z, y, wn, lam)
        moments, eigen = found.moments, found.eigen
        fast = lambda_select.loo_scores(x, torch.from_numpy, y, moments, eigen, lam, wt)
        np.testing.assert_allclose(fast, brute, rtol=1e-5, atol=1e-6)
        totals = lambda_select.scan(x, torch.from_numpy, y, moments, eigen, [lam], wt, truth)
        assert totals.scores("loo-accuracy")[0][0] == pytest.approx(np.mean(brute.argmax(1) != y.argmax(1)))
        assert totals.scores("loo")[0] == pytest.approx(np.mean(((brute - y) ** 2).sum(1)), rel=1e-5)
    # The grid's winner is the brute-force argmin over the same grid (mistakes, then squared error).
    grid = found.grid[::6]
    brute = [brute_force_loo(z, y, wn, lam) for lam in grid]
    keys = [(np.mean(b.argmax(1) != y.argmax(1)), np.mean(((b - y) ** 2).sum(1))) for b in brute]
    totals = lambda_select.scan(x, torch.from_numpy, y, found.moments, found.eigen, grid, wt, truth)
    assert lambda_select.best_of(grid, totals.scores("loo-accuracy"))[0] == grid[min(range(len(grid)), key=keys.__getitem__)]


def exact_kernel_ridge(k_train, k_new, y, lam):
    """Kernel ridge with an unpenalised intercept: [[K + lam I, 1], [1^T, 0]] [alpha; b] = [y; 0]."""
    n = len(k_train)
    system = np.block([[k_train + lam * np.eye(n), np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    sol = np.linalg.solve(system, np.vstack([y, np.zeros((1, y.shape[1]))]))
    return k_new @ sol[:n] + sol[n]


def test_nystrom_with_every_row_a_landmark_is_the_exact_kernel_solve():
    x, labels = problem(n=40, d=4, seed=5)
    new = np.random.default_rng(6).normal(size=(15, 4)).astype(np.float32)
    y, _, _ = encode_targets(labels)
    gamma, lam = 0.3, 1.0
    exact = fit_head(x, labels, HeadOptions(kernel="rbf", solver="dual", gamma=gamma, lam=lam, class_weight="none"))
    assert exact.tensors["landmarks"].shape[0] == 40
    reference = exact_kernel_ridge(kernels.kernel_matrix("rbf", x, x, gamma).numpy(),
                                   kernels.kernel_matrix("rbf", new, x, gamma).numpy(), y, lam)
    np.testing.assert_allclose(head_outputs(exact, new), reference, atol=1e-4)
    # Fewer landmarks approximate the same solve, better as m grows.
    gaps = []
    for m in (4, 36):
        approx = fit_head(x, labels, HeadOptions(kernel="rbf", gamma=gamma, lam=lam, landmarks=m, class_weight="none"))
        assert approx.tensors["landmarks"].shape[0] == m and approx.config["solver"] == "nystrom"
        gaps.append(np.abs(head_outputs(approx, new) - reference).max())
    assert gaps[1] < gaps[0] / 2


def test_probabilities_sum_to_one_and_rise_with_their_score():
    scores = np.array([[0.2, -0.5, 0.1], [1.0, 1.0, -1.0], [-3.0, 0.0, 3.0]])
    probs = calibrate.probabilities(scores, 2.5)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1)[[0, 2]] == scores.argmax(1)[[0, 2]]).all() and probs[1, 0] == pytest.approx(probs[1, 1])
    bumped = scores.copy()
    bumped[:, 1] += 0.3
    assert (calibrate.probabilities(bumped, 2.5)[:, 1] > probs[:, 1]).all()
    assert np.allclose(calibrate.probabilities(scores, 0.0), 1 / 3)


def test_temperature_is_the_discriminant_slope_of_the_margins():
    # Two classes: LOO scores +-s; the temperature's log-odds on the margin 2s must be LDA's slope
    # (m1 - m0) / var(s) on s, i.e. T = (m1 - m0) / (2 var).
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(0.6, 0.5, 400), rng.normal(-0.4, 0.5, 600)])
    labels = np.array([1] * 400 + [0] * 600)
    scores = np.stack([-s, s], 1)
    pooled = (((s[:400] - s[:400].mean()) ** 2).sum() + ((s[400:] - s[400:].mean()) ** 2).sum()) / (1000 - 2)
    assert calibrate.temperature(scores, labels) == pytest.approx((s[:400].mean() - s[400:].mean()) / (2 * pooled))
    assert calibrate.temperature(np.zeros((10, 2)), np.array([0, 1] * 5)) == 0.0  # no signal: uniform


def test_fitted_probabilities_are_calibrated_on_held_out_rows():
    x, labels = problem(n=600, d=6, classes=3, seed=7, spread=0.8)
    head = fit_head(x[:400], labels[:400], HeadOptions(kernel="linear"))
    predicted, _, probs = predict_proba(head, x[400:])
    assert predicted == predict(head, x[400:])[0] and head.config["temperature"] > 0
    confidence = probs.max(1)
    hits = np.array(predicted) == np.array(labels[400:])
    # Mean confidence tracks accuracy (a temperature of 1 on these scores would be far too timid).
    assert abs(confidence.mean() - hits.mean()) < 0.08
    assert abs(calibrate.probabilities(head_outputs(head, x[400:]), 1.0).max(1).mean() - hits.mean()) > 0.15


def test_kernel_kept_only_when_it_wins_by_more_than_one_standard_error():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    ring = ["in" if r < 1.1 else "out" for r in np.linalg.norm(x, axis=1)]  # no line separates a ring
    head = fit_head(x, ring, HeadOptions(landmarks=60))
    assert head.config["features"]["kind"] == "linear+rbf"
    candidates = head.config["lambda_search"]["candidates"]
    assert candidates[0]["loo_error"] > 0.3 > min(c["loo_error"] for c in candidates[1:])
    halves = ["a" if v > 0 else "b" for v in x[:, 0] + 0.3 * rng.normal(size=300)]  # a line does it
    assert fit_head(x, halves, HeadOptions(landmarks=60)).config["features"]["kind"] == "linear"


def test_one_standard_error_rule_on_paired_errors():
    class Scored:
        def __init__(self, errors, score):
            self.totals = type("T", (), {"errors": lambda _, e=errors: torch.tensor(e, dtype=torch.float64)[:, None]})()
            self.index, self.score = 0, (score, 0.0)
    plain = [0.0] * 80 + [1.0] * 20
    slightly = plain[:]
    slightly[80] = slightly[81] = 0.0
    slightly[0] = 1.0                                # one row better net (two better, one worse): chance
    clearly = [0.0] * 90 + [1.0] * 10                # ten rows better
    assert select.one_standard_error([Scored(plain, 0.2), Scored(slightly, 0.19)]) == 0
    assert select.one_standard_error([Scored(slightly, 0.19), Scored(plain, 0.2)]) == 0  # the first is best
    assert select.one_standard_error([Scored(plain, 0.2), Scored(clearly, 0.10)]) == 1


def test_kmeanspp_landmarks_spread_over_the_data():
    rng = np.random.default_rng(9)
    far = np.vstack([rng.normal(0, 0.01, (50, 3)), rng.normal(10, 0.01, (5, 3))]).astype(np.float32)
    rows = kernels.kmeanspp_landmarks(far, 2, seed=0)
    assert len(rows) == 2 and (rows < 50).sum() == 1  # one in each cluster, the small one too
    again = kernels.kmeanspp_landmarks(far, 7, seed=0)
    assert list(again) == sorted(set(again)) and list(again) == list(kernels.kmeanspp_landmarks(far, 7, seed=0))
    assert list(kernels.kmeanspp_landmarks(far, 99, seed=0)) == list(range(55))
    dup = np.zeros((6, 3), dtype=np.float32)         # all rows alike: still m distinct rows
    assert len(kernels.kmeanspp_landmarks(dup, 3, seed=1)) == 3


def test_class_weights_balance_the_classes():
    y, _, _ = encode_targets(["a"] * 6 + ["b"] * 2)
    w = class_weights(y, "balanced")
    assert w[:6].sum() == pytest.approx(w[6:].sum()) and w.sum() == pytest.approx(8)
    assert class_weights(y, "none") is None and set(np.unique(y)) == {-1.0, 1.0}


def test_centred_moments_match_numpy_and_stream_blocks(monkeypatch):
    monkeypatch.setattr(kernels, "CHUNK_ROWS", 7)
    x, labels = problem(n=50, seed=10)
    x = x + 1000.0  # far from the origin: float32 would cancel without the shift
    y, _, _ = encode_targets(labels)
    w = class_weights(y, "balanced")
    m = solvers.centred_moments(x, torch.from_numpy, y, torch.from_numpy(w))
    z = x.astype(np.float64)
    mu = (w[:, None] * z).sum(0) / w.sum()
    ybar = (w[:, None] * y).sum(0) / w.sum()
    np.testing.assert_allclose(m["mu"].numpy(), mu, rtol=1e-10)
    np.testing.assert_allclose(m["gram"].numpy(), (z - mu).T @ (w[:, None] * (z - mu)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(m["cross"].numpy(), (z - mu).T @ (w[:, None] * (y - ybar)), rtol=1e-4, atol=1e-3)


def test_search_on_a_sample_refits_on_every_row_and_caching_changes_nothing(monkeypatch):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(700, 2)).astype(np.float32)
    ring = ["in" if r < 1.1 else "out" for r in np.linalg.norm(x, axis=1)]
    opts = HeadOptions(select_rows=200, landmarks=40)
    head = fit_head(x[:500], ring[:500], opts)
    search = head.config["lambda_search"]
    assert search["rows"] == 200 and head.config["dims"]["train"] == 500
    assert head.config["features"]["kind"] == "linear+rbf" and len(search["gamma_probes"]) == 3
    assert np.mean(np.array(predict(head, x[500:])[0]) == np.array(ring[500:])) > 0.9
    # Features made once per candidate (cached) or per pass, block by block: the same fit.
    monkeypatch.setattr(select, "CACHE_ROWS", 0)
    again = fit_head(x[:500], ring[:500], opts)
    assert again.config["lambda"] == head.config["lambda"]
    np.testing.assert_allclose(again.tensors["weights"].numpy(), head.tensors["weights"].numpy(), rtol=1e-5, atol=1e-6)


def test_explicit_kernel_on_many_rows_goes_straight_to_the_fit_on_every_row():
    x, labels = problem(n=400, d=4, seed=13, spread=0.6)
    opts = HeadOptions(select_rows=120)
    auto = fit_head(x, labels, opts)
    assert auto.config["features"]["kind"] == "linear"  # the probes lost: linear refitted on every row
    plain = fit_head(x, labels, replace(opts, kernel="linear"))
    search = plain.config["lambda_search"]
    assert search["rows"] == 120 and search["gamma_probes"] == [] and len(search["candidates"]) == 1
    # No sample fit first, and the same head as auto's refit: lambda scored on the same sampled rows.
    assert plain.config["lambda"] == auto.config["lambda"]
    np.testing.assert_array_equal(plain.tensors["weights"].numpy(), auto.tensors["weights"].numpy())
    y, _, _ = encode_targets(labels)
    w = class_weights(y, "balanced")
    _, expected = weighted_ridge(x.astype(np.float64), y, w, plain.config["lambda"])  # all 400 rows
    np.testing.assert_allclose(plain.tensors["weights"].numpy(), expected, rtol=1e-4, atol=1e-6)
