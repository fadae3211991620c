"""Two-process DDP on CPU (gloo) through accelerate launch and recipes/accelerate/cpu_ddp.yaml."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from train_runner_data import QUICK, data_dir, quiet_env

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_model_dir, tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "accelerate.commands.launch",
               "--config_file", str(ROOT / "recipes/accelerate/cpu_ddp.yaml"), "--main_process_port",
               str(free_port()), "-m", "train.hf_trainer", "--model_name_or_path", str(tiny_model_dir),
               "--train_file", str(data["train"]), "--output_dir", str(out), *QUICK, "--max_steps", "2",
               "--save_strategy", "steps", "--save_steps", "2", "--ddp_find_unused_parameters", "false",
               "--evaluation_strategy", "no"]
    done = subprocess.run(command, cwd=ROOT, env=quiet_env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "tunesmith-run.json").read_text())
    assert record["status"] == "finished" and record["world_size"] == 2 and record["global_step"] == 2
    # every rank saves its own RNG state: both processes trained
    assert (out / "checkpoint-2" / "rng_state_0.pth").is_file()
    assert (out / "checkpoint-2" / "rng_state_1.pth").is_file()
    assert (out / "checkpoint-2" / "tunesmith-complete.json").is_file()
    # 2 steps x 4 examples x 2 processes = 16 examples = half an epoch of 32
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["log_history"][-1]["epoch"] == pytest.approx(0.5)
    # warnings are printed once, by the main process only
    assert done.stderr.count("--evaluation_strategy is now --eval_strategy") == 1
