"""DeepSpeed ZeRO-2 and ZeRO-3 on the CPU: two processes over gloo on 127.0.0.1, launched with
recipes/accelerate/deepspeed_zero{2,3}_cpu.yaml, as a user would. Nothing may be compiled:
TORCH_EXTENSIONS_DIR points at an empty folder that must stay empty."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_train_ddp import launch, trainer_state
from train_runner_data import QUICK, data_dir, log_losses, quiet_env

from train.lm.checkpoints import KILL_ENV, MARKER

# find_spec, not importorskip: importing deepspeed here would cost seconds at collection.
needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                                     reason="deepspeed is not installed (pip install -e '.[deepspeed]', part of .[dev])")


def zero_env(tmp_path: Path, **extra) -> dict:
    loopback = {"GLOO_SOCKET_IFNAME": "lo"} if Path("/sys/class/net/lo").exists() else {}
    return quiet_env(TORCH_EXTENSIONS_DIR=str(tmp_path / "extensions"), **loopback, **extra)


def run_args(model, data, out, *extra) -> list:
    return ["--model_name_or_path", model, "--train_file", data["train"], "--output_dir", out, *QUICK,
            "--max_steps", "4", *extra]


def nothing_compiled(tmp_path: Path) -> bool:
    folder = tmp_path / "extensions"
    return not folder.exists() or not any(folder.iterdir())


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_deepspeed_asked_for_but_missing_is_one_line(monkeypatch):
    import sys

    from prep.core.errors import StageError
    from train.lm.sharding import prepare_deepspeed

    assert prepare_deepspeed({}, ["--output_dir", "x"]) is False  # not asked for: nothing imported
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # what a missing package looks like to import
    with pytest.raises(StageError, match=r"pip install 'tunesmith\[deepspeed\]'"):
        prepare_deepspeed({"ACCELERATE_USE_DEEPSPEED": "true"})
    with pytest.raises(StageError, match="needs the deepspeed package"):
        prepare_deepspeed({}, ["--deepspeed=ds.json"])


@needs_deepspeed
@pytest.mark.slow
def test_zero2_trains_on_cpu(tiny_model_dir, tmp_path):
    data, out = data_dir(tmp_path), tmp_path / "zero2"
    done = launch("deepspeed_zero2_cpu.yaml", run_args(tiny_model_dir, data, out, "--save_strategy", "steps",
                                                       "--save_steps", "4"), env=zero_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "tunesmith-run.json").read_text())
    assert record["status"] == "finished" and record["world_size"] == 2 and record["global_step"] == 4
    losses = [loss for _, loss in log_losses(out)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    # DeepSpeed's own checkpoint: the optimizer states split between the two processes
    shards = out / "checkpoint-4" / "global_step4"
    assert sorted(p.name for p in shards.glob("*optim_states.pt")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    trained, start = weights(out / "model.safetensors"), weights(tiny_model_dir / "model.safetensors")
    assert trained.keys() == start.keys()
    assert any(not trained[k].equal(start[k]) for k in start)
    assert nothing_compiled(tmp_path)
    assert done.stderr.count("without compiling DeepSpeed's shared-memory allreduce") == 1


def shard_sizes(checkpoint: Path, step: int) -> list[int]:
    """fp32 parameters each process holds in a ZeRO-3 checkpoint (DeepSpeed's own pickles)."""
    import torch

    sizes = []
    for rank in (0, 1):
        state = torch.load(checkpoint / f"global_step{step}" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt",
                           map_location="cpu", weights_only=False)
        sizes.append(sum(group.numel() for group in state["optimizer_state_dict"]["fp32_flat_groups"]))
    return sizes


@needs_deepspeed
@pytest.mark.slow
def test_zero3_resumes_from_its_sharded_checkpoint(tiny_model_dir, tmp_path):
    """Killed while saving step 4, rerun: resumes from the sharded checkpoint-2 and ends with the
    weights the unbroken run had reached at step 4 (saved before the kill)."""
    import torch
    from transformers import AutoModelForCausalLM

    data, out = data_dir(tmp_path), tmp_path / "zero3"
    args = run_args(tiny_model_dir, data, out, "--save_strategy", "steps", "--save_steps", "2")
    killed = launch("deepspeed_zero3_cpu.yaml", args, env=zero_env(tmp_path, **{KILL_ENV: "4"}))
    assert killed.returncode != 0
    assert (out / "checkpoint-2" / MARKER).is_file() and not (out / "checkpoint-4" / MARKER).exists()
    # sharded: each process holds half of the model's parameters, none holds them all
    total = sum(t.numel() for t in weights(tiny_model_dir / "model.safetensors").values())
    halves = shard_sizes(out / "checkpoint-2", 2)
    assert all(total / 2 <= n < total for n in halves), (halves, total)
    unbroken = weights(out / "checkpoint-4" / "model.safetensors")  # the whole model, gathered at step 4
    unbroken_losses = [(e["step"], e["loss"]) for e in trainer_state(out / "checkpoint-4")["log_history"]
                       if "loss" in e]

    done = launch("deepspeed_zero3_cpu.yaml", args, env=zero_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "checkpoint-4 is incomplete" in done.stderr and "resuming from" in done.stderr
    record = json.loads((out / "tunesmith-run.json").read_text())
    assert record["resumed_from"].endswith("checkpoint-2") and record["global_step"] == 4
    resumed_losses = log_losses(out)
    assert [s for s, _ in resumed_losses] == [s for s, _ in unbroken_losses] == [1, 2, 3, 4]
    # steps 3 and 4 trained after the resume, with the losses of the unbroken run
    assert [v for _, v in resumed_losses] == pytest.approx([v for _, v in unbroken_losses], rel=1e-5)
    # Same shards, optimizer moments, data position and RNG: the same float operations in the same
    # order. Measured here: identical to the bit. 1e-5 leaves room for summation-order noise on
    # other CPUs (fp32, ~1e-7 relative), while steps 3-4 move every tensor by ~4e-3 at most
    # (lr 5e-3): a lost or repeated step, or lost Adam moments, would be hundreds of times the tolerance.
    resumed = weights(out / "model.safetensors")
    for name, tensor in unbroken.items():
        assert torch.allclose(resumed[name], tensor, rtol=0, atol=1e-5), name
    assert any(not unbroken[k].equal(v) for k, v in weights(out / "checkpoint-2" / "model.safetensors").items())
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == unbroken["model.embed_tokens.weight"].shape[0]
    ids = torch.tensor([[1, 20, 30, 40, 2]])
    assert torch.isfinite(model(input_ids=ids, labels=ids).loss)
    assert nothing_compiled(tmp_path)

    # Killed after its last checkpoint, before the final save: the rerun trains nothing and
    # takes the model from checkpoint-4 (no DeepSpeed engine exists to load the shards into).
    final = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").unlink()
    again = launch("deepspeed_zero3_cpu.yaml", args, env=zero_env(tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is the end of this run (step 4 of 4); nothing to train" in again.stderr
    assert (out / "model.safetensors").read_bytes() == final
    assert trainer_state(out)["global_step"] == 4
