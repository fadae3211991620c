"""Resume safety: a run killed while saving, rerun, ends where an unbroken run ends."""
from __future__ import annotations

import json
from pathlib import Path

from killed_run import killed_run
from safetensors.torch import load_file
from train_runner_data import QUICK, data_dir, log_losses, one_thread  # noqa: F401

from train.lm.checkpoints import MARKER


def argv(model, data, out) -> list[str]:
    # 20 examples in batches of 4: 5 steps an epoch, so 8 steps cross an epoch boundary and a
    # resume from step 3 skips batches inside the (length-grouped, seeded) first epoch.
    return [str(a) for a in ("--model_name_or_path", model, "--train_file", data["train"], "--eval_file",
                             data["eval"], "--output_dir", out, *QUICK, "--max_steps", "8",
                             "--save_strategy", "steps", "--save_steps", "3", "--eval_strategy", "steps",
                             "--eval_steps", "4", "--group_by_length", "--warmup_ratio", "0.2")]


def history(out: Path) -> list[tuple]:
    state = json.loads((out / "trainer_state.json").read_text())
    return [(e["step"], e.get("loss"), e.get("eval_loss")) for e in state["log_history"]
            if "loss" in e or "eval_loss" in e]


def test_killed_while_saving_then_rerun_matches_an_unbroken_run(tiny_model_dir, tmp_path, capsys):
    from train import hf_trainer

    data = data_dir(tmp_path, n_train=20)
    ref, out = tmp_path / "unbroken", tmp_path / "killed"
    assert hf_trainer.main(argv(tiny_model_dir, data, ref)) == 0

    assert killed_run(argv(tiny_model_dir, data, out), 6) == -9
    assert (out / "checkpoint-3" / MARKER).is_file()
    assert (out / "checkpoint-6" / "model.safetensors").is_file() and not (out / "checkpoint-6" / MARKER).exists()

    assert hf_trainer.main(argv(tiny_model_dir, data, out)) == 0
    err = capsys.readouterr().err
    assert "checkpoint-6 is incomplete" in err and (out / "checkpoint-6.incomplete").is_dir()
    assert f"resuming from {out / 'checkpoint-3'}" in err
    assert (out / "checkpoint-6" / MARKER).is_file()            # saved again, completely this time

    assert history(out) == history(ref) and len(log_losses(out)) == 8
    expected, got = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(expected[k].equal(got[k]) for k in expected)


def test_rerun_of_a_finished_run_trains_nothing_and_overwrite_starts_over(tiny_model_dir, tmp_path, capsys):
    from train import hf_trainer

    data = data_dir(tmp_path, n_train=20)
    out = tmp_path / "run"
    args = [*argv(tiny_model_dir, data, out), "--max_steps", "3"]
    assert hf_trainer.main(args) == 0
    before = history(out)
    (out / "checkpoint-5").mkdir()                      # a stray newer folder without the marker
    assert hf_trainer.main(args) == 0
    err = capsys.readouterr().err
    assert "checkpoint-3 is the end of this run" in err and history(out) == before
    assert (out / "checkpoint-5.incomplete").is_dir()
    assert hf_trainer.main([*args, "--overwrite_output_dir"]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert not (out / "checkpoint-5.incomplete").exists() and history(out) == before


def test_checkpoints_of_other_tools_are_judged_by_their_files(tmp_path):
    from train.lm.checkpoints import resume_point

    good, cut = tmp_path / "checkpoint-10", tmp_path / "checkpoint-20"
    for folder, state in ((good, '{"global_step": 10}'), (cut, '{"global_st')):  # the second cut short
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        (folder / "trainer_state.json").write_text(state)
    warnings = []
    assert resume_point(tmp_path, False, None, True, warnings.append) == str(good)
    assert (tmp_path / "checkpoint-20.incomplete").is_dir() and len(warnings) == 1
    assert (good / MARKER).is_file()      # adopted: this run's reruns will find it complete
