"""`tunesmith curves`: diagnoses on synthetic trainer_state.json files, files written, errors."""
from __future__ import annotations

import json
import math
import random

import pytest

from prep.core.errors import StageError
from train.tools.curves import write_curves
from train.tools.diagnosis import keep_checkpoint, moving_median, tail_fall

STEPS = list(range(10, 1010, 10))
EVAL_STEPS = list(range(100, 1001, 100))


def noisy(fn, seed=0, noise=0.04):
    rng = random.Random(seed)
    return [(s, fn(s) + rng.uniform(-noise, noise)) for s in STEPS]


def decaying(s):
    return 2.0 * math.exp(-s / 150) + 0.5


def write_run(directory, train, evals=(), checkpoints=(), top=True):
    """An output_dir with the Trainer's log_history (train, eval and final summary entries)."""
    directory.mkdir(parents=True, exist_ok=True)
    history = [{"epoch": s / 1000, "grad_norm": 1.0, "learning_rate": 1e-4, "loss": v, "step": s} for s, v in train]
    history += [{"epoch": s / 1000, "eval_loss": v, "eval_runtime": 0.1, "step": s} for s, v in evals]
    history.sort(key=lambda e: (e["step"], "eval_loss" in e))
    history.append({"step": STEPS[-1], "train_loss": 1.0, "train_runtime": 5.0, "total_flos": 1})
    state = {"global_step": STEPS[-1], "log_history": history}
    for step in checkpoints:
        folder = directory / f"checkpoint-{step}"
        folder.mkdir()
        partial = [e for e in history if e["step"] <= step and "train_loss" not in e]
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": partial}))
    if top:
        (directory / "trainer_state.json").write_text(json.dumps(state))
    return directory


def test_overfit_names_minimum_and_checkpoint(tmp_path, cli):
    evals = [(s, 1.0 + 0.3 * ((s - 400) / 400) ** 2) for s in EVAL_STEPS]
    run = write_run(tmp_path / "run", noisy(decaying), evals, checkpoints=(200, 500, 1000))
    code, out, err = cli("curves", run)
    assert code == 0, err
    assert out.startswith("overfit:")
    assert "minimum 1.0000 at step 400" in out
    assert "Keep checkpoint-500" in out
    payload = json.loads((run / "curves.json").read_text())
    diagnosis = payload["diagnosis"]
    assert diagnosis["verdict"] == "overfit"
    assert diagnosis["eval_min_step"] == 400 and diagnosis["keep_checkpoint"] == 500
    assert diagnosis["rise"] == pytest.approx((evals[-1][1] - 1.0) / 1.0)
    assert payload["eval"]["step"] == EVAL_STEPS and len(payload["train"]["loss"]) == len(STEPS)
    assert payload["checkpoints"] == [200, 500, 1000]
    png = (run / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]


def test_overfit_exact_checkpoint_and_none_saved(tmp_path):
    evals = [(s, 1.0 + 0.3 * ((s - 400) / 400) ** 2) for s in EVAL_STEPS]
    exact = write_curves(write_run(tmp_path / "a", noisy(decaying), evals, checkpoints=(400, 800)), quiet=True)
    assert exact["diagnosis"]["keep_checkpoint"] == 400
    none = write_curves(write_run(tmp_path / "b", noisy(decaying), evals, checkpoints=(100, 300)), quiet=True)
    assert none["diagnosis"]["keep_checkpoint"] is None
    assert "No checkpoint was saved at or after step 400" in none["diagnosis"]["message"]


def test_rise_within_tolerance_is_not_overfit(tmp_path):
    evals = [(s, 0.7 + 0.8 * math.exp(-s / 150)) for s in EVAL_STEPS[:-1]] + [(1000, 0.7 * 1.015)]
    run = write_run(tmp_path / "run", noisy(decaying), evals)
    assert write_curves(run, quiet=True)["diagnosis"]["verdict"] == "well-fit"
    assert write_curves(run, quiet=True, tolerance=0.01)["diagnosis"]["verdict"] == "overfit"


def test_underfit_still_falling(tmp_path, capsys):
    train = noisy(lambda s: 3.0 - 0.002 * s)
    evals = [(s, 3.1 - 0.002 * s) for s in EVAL_STEPS]
    result = write_curves(write_run(tmp_path / "run", train, evals))
    diagnosis = result["diagnosis"]
    assert (diagnosis["verdict"], diagnosis["reason"]) == ("underfit", "train-still-falling")
    # A straight line loses about a fifth of its range in the last fifth of the steps.
    assert 0.15 < diagnosis["train_tail_fall"] < 0.25
    assert capsys.readouterr().out.startswith("underfit: train loss still falling steeply")


def test_underfit_flat_without_eval(tmp_path):
    result = write_curves(write_run(tmp_path / "run", noisy(lambda s: 2.3)), quiet=True)
    diagnosis = result["diagnosis"]
    assert (diagnosis["verdict"], diagnosis["reason"]) == ("underfit", "flat")
    assert diagnosis["drop"] < 0.05
    assert "judged from train loss alone" in diagnosis["message"]
    assert result["eval"]["loss"] == []


def test_well_fit_states_gap(tmp_path):
    evals = [(s, 0.7 + 0.8 * math.exp(-s / 150)) for s in EVAL_STEPS]
    diagnosis = write_curves(write_run(tmp_path / "run", noisy(decaying), evals), quiet=True)["diagnosis"]
    assert diagnosis["verdict"] == "well-fit"
    # Smoothed train loss near 0.5 at the end, eval loss 0.7 + 0.8 * e^(-1000/150).
    assert diagnosis["gap"] == pytest.approx(0.7 + 0.8 * math.exp(-1000 / 150) - 0.5, abs=0.04)
    assert "gap" in diagnosis["message"]


def test_well_fit_without_eval_says_so(tmp_path):
    diagnosis = write_curves(write_run(tmp_path / "run", noisy(decaying)), quiet=True)["diagnosis"]
    assert diagnosis["verdict"] == "well-fit"
    assert "no eval loss" in diagnosis["message"]


def test_spike_does_not_change_the_verdict(tmp_path):
    train = noisy(decaying)
    train[-2] = (train[-2][0], 5.0)  # one bad batch near the end
    diagnosis = write_curves(write_run(tmp_path / "run", train), quiet=True)["diagnosis"]
    assert diagnosis["verdict"] == "well-fit"


def test_reads_newest_checkpoint_when_run_unfinished(tmp_path, capsys):
    evals = [(s, 1.0 + 0.3 * ((s - 400) / 400) ** 2) for s in EVAL_STEPS]
    run = write_run(tmp_path / "run", noisy(decaying), evals, checkpoints=(300, 700), top=False)
    result = write_curves(run)
    assert result["source"] == "checkpoint-700/trainer_state.json"
    assert max(result["train"]["step"]) == 700
    assert result["diagnosis"]["verdict"] == "overfit" and result["diagnosis"]["keep_checkpoint"] == 700
    assert "no final trainer_state.json" in capsys.readouterr().out


def test_same_log_same_bytes(tmp_path):
    run = write_run(tmp_path / "run", noisy(decaying), [(s, 0.7 + 0.8 * math.exp(-s / 150)) for s in EVAL_STEPS])
    write_curves(run, quiet=True)
    first = (run / "curves.png").read_bytes(), (run / "curves.json").read_bytes()
    write_curves(run, quiet=True)
    assert ((run / "curves.png").read_bytes(), (run / "curves.json").read_bytes()) == first


def test_errors(tmp_path, cli):
    code, _, err = cli("curves", tmp_path / "missing")
    assert code == 2 and "no such run folder" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    code, _, err = cli("curves", tmp_path / "empty")
    assert code == 2 and "no trainer_state.json" in err and "config.json" in err
    (tmp_path / "nolog").mkdir()
    (tmp_path / "nolog" / "trainer_state.json").write_text(json.dumps({"log_history": []}))
    with pytest.raises(StageError, match="no loss in the log history"):
        write_curves(tmp_path / "nolog")
    assert not (tmp_path / "nolog" / "curves.json").exists()


def test_helpers():
    assert moving_median([1, 9, 1, 1, 1]) == [5, 1, 1, 1, 1]
    fall, start, end = tail_fall(list(range(10)), [10 - x for x in range(10)])
    assert (fall, start, end) == (pytest.approx(2.0), 7, 9)
    assert keep_checkpoint(400, [200, 500, 1000]) == 500
    assert keep_checkpoint(400, [400]) == 400
    assert keep_checkpoint(400, [100]) is None
