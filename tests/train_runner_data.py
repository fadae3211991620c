"""Tiny training data and run helpers shared by the runner's tests (no network, CPU)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

# Flags that keep a test run short and quiet; a test adds or overrides what it checks.
QUICK = ["--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--logging_steps", "1",
         "--learning_rate", "5e-3", "--disable_tqdm", "true", "--report_to", "none", "--seed", "7",
         "--save_strategy", "no", "--optim", "adamw_torch"]


def examples(n: int, seed: int, vocab: int = 250, bos: int = 1, eos: int = 2) -> list[tuple[list, list]]:
    """(input_ids, labels) pairs of varied length, the first part of each masked with -100."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = [rng.randint(10, vocab - 1) for _ in range(rng.randint(5, 28))]
        ids = [bos, *body, eos]
        cut = rng.randint(1, len(ids) // 2)
        out.append((ids, [-100] * cut + ids[cut:]))
    return out


def write_arrow(path: Path, rows: list[tuple[list, list]], layout: str = "stream", labels: bool = True) -> Path:
    """An Arrow IPC stream (what `prep tokenize` writes) or IPC file (the guide's Pygmalion layout)."""
    import pyarrow as pa

    columns = {"input_ids": pa.array([r[0] for r in rows], pa.list_(pa.int32()))}
    if labels:
        columns["labels"] = pa.array([r[1] for r in rows], pa.list_(pa.int32()))
    if layout == "file":  # the Pygmalion files also carried an attention_mask column
        columns["attention_mask"] = pa.array([[1] * len(r[0]) for r in rows], pa.list_(pa.int8()))
    table = pa.table(columns)
    with pa.OSFile(str(path), "wb") as sink:
        writer = (pa.ipc.new_file if layout == "file" else pa.ipc.new_stream)(sink, table.schema)
        writer.write_table(table)
        writer.close()
    return path


def write_jsonl(path: Path, n: int) -> Path:
    lines = [json.dumps({"input": f"what is {i} plus {i}?", "output": f"the sum is {2 * i}."}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def data_dir(tmp_path: Path, n_train: int = 32, n_eval: int = 8) -> dict:
    """train.arrow (stream), eval.arrow (IPC file layout) and train.jsonl under tmp_path."""
    return {"train": write_arrow(tmp_path / "train.arrow", examples(n_train, 1)),
            "eval": write_arrow(tmp_path / "eval.arrow", examples(n_eval, 2), layout="file"),
            "jsonl": write_jsonl(tmp_path / "train.jsonl", n_train)}


def state_dict(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def log_losses(output_dir: Path) -> list[tuple[int, float]]:
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
    return [(e["step"], e["loss"]) for e in state["log_history"] if "loss" in e]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny matrices gain nothing from more, and on a busy machine the
    OpenMP threads wait on each other (a 64x64 matmul went from 0.1 ms to 30 ms)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def quiet_env(**extra) -> dict:
    """Environment for a training subprocess: one thread, no tokenizer parallelism."""
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            **extra}
