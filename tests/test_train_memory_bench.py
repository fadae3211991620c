"""bench/train_memory.py's CPU mode: LoRA and QLoRA through the runner, each row beside the estimate."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_memory")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "train_memory.py"), "--cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads((out / "train_memory.json").read_text()), (out / "train_memory.md").read_text()


@pytest.mark.slow
def test_both_methods_train_and_are_set_beside_the_estimate(result):
    data, text = result
    rows = data["rows"]
    assert data["device"] == "cpu" and data["machine"]["torch"]
    assert [(r["method"], r["checkpointing"]) for r in rows] == [
        ("lora", False), ("lora", True), ("qlora", False), ("qlora", True)]
    for r in rows:
        assert r["tokens_per_s"] > 0 and r["steps_timed"] == data["sizes"]["steps"], r.get("error")
        assert r["global_step"] == data["sizes"]["warmup"] + data["sizes"]["steps"]
        assert r["estimate_bytes"] > 0 and r["measured_bytes"] > r["model_tensor_bytes"] > 0
        assert r["ratio"] == pytest.approx(r["measured_bytes"] / r["estimate_bytes"])
        assert "within_aim" not in r  # the estimate is for CUDA: nothing judged on the CPU
    lora, qlora = rows[0], rows[2]
    assert "--use_lora" in lora["argv"] and "paged_adamw_32bit" in qlora["argv"] and "nf4" in qlora["argv"]
    # the estimate is asked about the run's own rank, targets and dropout: each entry point's
    # default dropout (LoRA 0.05, QLoRA 0), given explicitly and read back from the runner's parse
    assert [r["runner_lora"]["dropout"] for r in rows] == [0.05, 0.05, 0.0, 0.0]
    for r in rows:
        assert r["estimate_lora"] == r["runner_lora"] == {"rank": 16, "targets": "all-linear",
                                                          "dropout": r["runner_lora"]["dropout"]}
    assert "LoRA dropout 0.05 (LoRA bf16) and 0 (QLoRA nf4)" in text
    # what the runner trains and stores is what the estimate counts (the QLoRA weights are not
    # compared: the runner keeps its unquantized weights in fp32, see the page)
    for r in rows:
        assert r["trainable_params"] == r["trainable"] > 0
        assert r["optimizer_state_bytes"] == pytest.approx(r["estimate_parts"]["optimizer states"], rel=0.01)
    assert lora["model_tensor_bytes"] == pytest.approx(lora["estimate_parts"]["weights"], rel=0.01)
    assert "uint8" in qlora["model_bytes_by_dtype"]  # the 4-bit weights are packed two to a byte
    # checkpointing keeps less alive in the first step
    assert rows[1]["tracked_peak_bytes"] < rows[0]["tracked_peak_bytes"]
    assert rows[3]["tracked_peak_bytes"] < rows[2]["tracked_peak_bytes"]
    assert text.count("n/a, the estimate is for CUDA") == 4 and "| QLoRA nf4 | on |" in text


def bench_common():
    """bench/_common.py loaded from its file (the benchmarks import it as a script's neighbour)."""
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "bench" / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_live_bytes_meter_counts_what_stays_alive():
    import torch

    common = bench_common()
    weight = torch.randn(256, 256, requires_grad=True)  # 256 KiB, known: not counted
    with common.live_bytes_mode()(common.storage_addresses([weight])) as meter:
        x = torch.randn(64, 256)               # 64 KiB
        y = (x @ weight).relu()                # mm output 64 KiB (freed after relu), relu output 64 KiB
        assert meter.current == 2 * 65536 and meter.peak == 3 * 65536
        y.sum().backward()                     # the weight's gradient, 256 KiB, stays
        del x, y
        assert meter.current == 256 * 1024
