"""Several processes on CPU (gloo): DDP through accelerate launch and recipes/accelerate/cpu_ddp.yaml,
two "machines" through recipes/multinode.sh, FSDP refused where it would not shard, and
--include_num_input_tokens_seen as transformers takes it. Every rendezvous is on 127.0.0.1."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from train_runner_data import QUICK, data_dir, quiet_env

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(config: str, runner_args: list, env=None, timeout: int = 400) -> subprocess.CompletedProcess:
    """``accelerate launch --config_file recipes/accelerate/CONFIG -m train.hf_trainer ARGS`` on a
    free port of 127.0.0.1."""
    command = [*LAUNCH, "--config_file", str(ROOT / "recipes/accelerate" / config), "--main_process_ip",
               "127.0.0.1", "--main_process_port", str(free_port()), "-m", "train.hf_trainer",
               *[str(a) for a in runner_args]]
    return subprocess.run(command, cwd=ROOT, env=env or quiet_env(), capture_output=True, text=True,
                          timeout=timeout)


def trainer_state(out: Path) -> dict:
    return json.loads((out / "trainer_state.json").read_text())


def arrow_lengths(path: Path) -> list[int]:
    import pyarrow as pa

    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_stream(source).read_all()
    return [len(ids) for ids in table.column("input_ids").to_pylist()]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_model_dir, tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "ddp"
    # 4 steps x 4 examples x 2 processes = the 32 examples once, so the tokens seen are known.
    done = launch("cpu_ddp.yaml", [
        "--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", out, *QUICK,
        "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "4", "--ddp_find_unused_parameters",
        "false", "--evaluation_strategy", "no", "--include_num_input_tokens_seen", "non_padding"])
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "tunesmith-run.json").read_text())
    assert record["status"] == "finished" and record["world_size"] == 2 and record["global_step"] == 4
    # every rank saves its own RNG state: both processes trained
    assert (out / "checkpoint-4" / "rng_state_0.pth").is_file()
    assert (out / "checkpoint-4" / "rng_state_1.pth").is_file()
    assert (out / "checkpoint-4" / "tunesmith-complete.json").is_file()
    state = trainer_state(out)
    assert state["log_history"][-1]["epoch"] == pytest.approx(1.0)
    # counted on both ranks and summed: every real token once, no padding
    assert state["num_input_tokens_seen"] == sum(arrow_lengths(data["train"]))
    # warnings are printed once, by the main process only
    assert done.stderr.count("--evaluation_strategy is now --eval_strategy") == 1


def test_include_num_input_tokens_seen_takes_what_transformers_takes():
    from transformers import TrainingArguments

    from train.lm.args import parse

    def value(*words):
        (args,) = parse(["--output_dir", "x", "--include_num_input_tokens_seen", *words], (TrainingArguments,), "p")
        return args.include_num_input_tokens_seen

    assert value("non_padding") == "non_padding"
    assert value("all") == "all" and value("no") == "no"
    assert value("true") == "all" and value() == "all" and value("false") == "no"  # bools map as before
    with pytest.raises(SystemExit):
        value("nonpadding")


def test_fsdp_refused_where_it_would_not_shard():
    from transformers import TrainingArguments

    from prep.core.errors import StageError
    from train.lm.sharding import check_fsdp

    args = TrainingArguments(output_dir="x", use_cpu=True)
    env = {"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "2", "FSDP_SYNC_MODULE_STATES": "true"}
    with pytest.raises(StageError, match="plain DDP.*no available devices.*cpu_ddp.yaml"):
        check_fsdp(args, env, device=None)
    with pytest.raises(StageError, match="--use_cpu is set"):
        check_fsdp(args, env, device="cuda")
    check_fsdp(TrainingArguments(output_dir="x"), env, device="cuda")  # GPUs: FSDP shards
    check_fsdp(args, {"WORLD_SIZE": "2"}, device=None)  # no FSDP asked for


@pytest.mark.slow
def test_fsdp_config_on_cpu_stops_before_loading(tiny_model_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: FSDP would shard")
    data = data_dir(tmp_path)
    done = launch("fsdp.yaml", ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"],
                                "--output_dir", tmp_path / "fsdp", *QUICK, "--max_steps", "1"])
    assert done.returncode != 0
    assert done.stderr.count("tunesmith: error: FSDP needs GPUs and this machine has no GPU") == 1
    assert "Loading weights" not in done.stderr + done.stdout  # said before the model loaded
    assert "no available devices found" not in done.stderr  # accelerate's own error never came
    assert "[rank0]: Traceback" not in done.stderr  # one line, not a traceback from the runner
    assert not (tmp_path / "fsdp" / "tunesmith-run.json").exists()


def multinode(env: dict, runner_args: list, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    command = ["bash", str(ROOT / "recipes/multinode.sh"), *[str(a) for a in runner_args]]
    full_env = quiet_env(PYTHON=sys.executable, **env)
    if kwargs.pop("background", False):
        return subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, **kwargs)


def test_multinode_recipe_commands():
    done = multinode({"DRY_RUN": "1", "NNODES": "4", "NODE_RANK": "2", "GPUS_PER_NODE": "8",
                      "MAIN_ADDR": "10.1.2.3", "CONFIG": "recipes/accelerate/deepspeed_zero3.yaml"}, ["--x", "1"])
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[words.index("--num_processes") + 1] == "32"  # every process of every machine
    assert words[words.index("--machine_rank") + 1] == "2" and "--deepspeed_multinode_launcher" in words
    assert words[-4:] == ["-m", "train.hf_trainer", "--x", "1"]
    done = multinode({"DRY_RUN": "1", "LAUNCHER": "torchrun", "NNODES": "4", "NODE_RANK": "2",
                      "GPUS_PER_NODE": "8", "MAIN_ADDR": "10.1.2.3"}, ["--x", "1"])
    words = done.stdout.split()
    assert words[words.index("--nproc_per_node") + 1] == "8" and words[words.index("--nnodes") + 1] == "4"
    assert words[words.index("--master_addr") + 1] == "10.1.2.3"
    assert multinode({"DRY_RUN": "1", "LAUNCHER": "mpirun"}, []).returncode == 2


@pytest.mark.slow
def test_two_machines_with_torchrun_on_loopback(tiny_model_dir, tmp_path):
    """recipes/multinode.sh run twice, NODE_RANK 0 and 1, meeting at 127.0.0.1: one process each."""
    data = data_dir(tmp_path)
    out = tmp_path / "nodes"
    env = {"LAUNCHER": "torchrun", "NNODES": "2", "GPUS_PER_NODE": "1", "MAIN_ADDR": "127.0.0.1",
           "PORT": str(free_port())}
    args = ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", out, *QUICK,
            "--max_steps", "2"]
    second = multinode({**env, "NODE_RANK": "1"}, args, background=True)
    try:
        first = multinode({**env, "NODE_RANK": "0"}, args, timeout=400)
        second_err = second.communicate(timeout=120)[1]
    finally:
        second.kill()
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second_err[-3000:]
    record = json.loads((out / "tunesmith-run.json").read_text())
    assert record["world_size"] == 2 and record["global_step"] == 2
    # 2 steps x 4 examples x 2 machines = half an epoch of 32
    assert trainer_state(out)["log_history"][-1]["epoch"] == pytest.approx(0.5)


def test_multinode_recipe_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "recipes/multinode.sh")]).returncode == 0
    assert os.access(ROOT / "recipes/multinode.sh", os.X_OK)
