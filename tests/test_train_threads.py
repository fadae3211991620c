"""CPU threads: a launcher's OMP_NUM_THREADS=1 is replaced by the cores available, a user's is kept."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_runner_data import QUICK, data_dir

from train.lm.threads import cores_available, launcher_chose, settle_threads

ROOT = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
ACCELERATE = [PY, "/venv/bin/accelerate", "launch", "-m", "train.hf_trainer"]
TORCHRUN_MODULE = [PY, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "train.hf_trainer"]


@pytest.mark.parametrize("environ, parent, chose", [
    ({"OMP_NUM_THREADS": "1"}, (ACCELERATE, ["PATH=/bin"]), True),  # accelerate's default
    ({"OMP_NUM_THREADS": "1"}, (TORCHRUN_MODULE, ["PATH=/bin"]), True),  # torchrun's default
    ({"OMP_NUM_THREADS": "1"}, (ACCELERATE, ["PATH=/bin", "OMP_NUM_THREADS=1"]), False),  # user's env
    ({"OMP_NUM_THREADS": "3"}, (ACCELERATE[:3] + ["--num_cpu_threads_per_process", "3"], []), False),
    ({"OMP_NUM_THREADS": "3"}, (ACCELERATE[:3] + ["--num_cpu_threads_per_process=3"], []), False),
    ({"OMP_NUM_THREADS": "1"}, (["/bin/bash", "run.sh"], ["PATH=/bin"]), False),  # OMP=1 python ... in a script
    ({"OMP_NUM_THREADS": "1"}, ([PY, "/home/me/accelerate-notes/train.py"], []), False),  # not a launcher
    ({}, (ACCELERATE, []), False),  # nothing set: torch uses every core itself
    ({"OMP_NUM_THREADS": "1"}, None, False),  # no /proc: keep what is set
])
def test_who_chose_the_thread_count(environ, parent, chose):
    assert launcher_chose(environ, parent) is chose


def test_settle_threads_sets_cores_over_local_processes():
    import torch

    before = torch.get_num_threads()
    environ = {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "1"}
    try:
        note = settle_threads(environ, (ACCELERATE, []))
        if cores_available() == 1:
            assert note is None and torch.get_num_threads() == before
        else:
            assert torch.get_num_threads() == cores_available()
            assert environ["OMP_NUM_THREADS"] == str(cores_available())
            assert f"using {cores_available()} threads per process" in note
            assert settle_threads(environ, (ACCELERATE, [])) is None  # once only
    finally:
        torch.set_num_threads(before)


def launched_threads(tmp_path: Path, model: Path, name: str, **env) -> tuple[int, str]:
    """`accelerate launch -m train.hf_trainer` with no config, as the README runs it; the threads
    the run recorded."""
    data = data_dir(tmp_path)
    out = tmp_path / name
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    environ.update(TOKENIZERS_PARALLELISM="false", HF_HOME=str(tmp_path / "hf"), **env)  # no stray default config
    command = [sys.executable, "-m", "accelerate.commands.launch", "-m", "train.hf_trainer",
               "--model_name_or_path", str(model), "--train_file", str(data["train"]), "--output_dir", str(out),
               *QUICK, "--max_steps", "1"]
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "tunesmith-run.json").read_text())["threads"], done.stderr


@pytest.mark.slow
def test_launched_run_uses_the_cores_unless_the_user_chose(tiny_model_dir, tmp_path):
    if cores_available() < 2:
        pytest.skip("one core: the launcher's 1 thread is already every core")
    threads, err = launched_threads(tmp_path, tiny_model_dir, "default")
    assert threads == cores_available()  # accelerate had set OMP_NUM_THREADS=1
    assert err.count("the launcher set OMP_NUM_THREADS=1") == 1
    threads, err = launched_threads(tmp_path, tiny_model_dir, "user", OMP_NUM_THREADS="1")
    assert threads == 1 and "the launcher set OMP_NUM_THREADS" not in err
