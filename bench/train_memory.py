"""Training memory and speed of LoRA bf16 and QLoRA through the project's runner, beside `tunesmith estimate`.

A Llama model built from a config with random weights (no download), saved once in bf16:
about 1.1B parameters on the GPU (hidden 2048, 16 layers, 32 heads, 8 KV heads, MLP 8192,
vocabulary 32000), the tiny 2-layer hidden-64 one on the CPU. Synthetic Arrow data: every
example exactly --seq-len tokens, labels = input_ids, so each step holds batch x seq-len
real tokens. Each row trains with the real entry point and its flags:

  LoRA bf16  train.hf_trainer --use_lora --lora_rank R --lora_target_modules all-linear --bf16 true
             --optim adamw_torch
  QLoRA      train.qlora --bits 4 --double_quant true --quant_type nf4 --optim paged_adamw_32bit
             --bf16 true --lora_r R --lora_target_modules all-linear (its other defaults kept)

with gradient checkpointing off and on, --max_steps warm-up + timed. Tokens/s covers the timed
steps. Memory, compared with the estimate (train.tools.estimate.estimate for the same config, method,
seq len, batch, checkpointing, rank and optimizer): CUDA peak allocated bytes from the start of
training + the paged optimizer states (unified memory, outside PyTorch's allocator) against the
estimate WITHOUT its CUDA-context part (the context is not allocated through PyTorch); the
reserved peak and the measured context are listed beside it. On the CPU the memory figure is the
model's tensors + the peak of live tensor bytes over the first step (bench/_train_memory_track.py);
the ratio is shown but not judged: CPU kernels are not CUDA's and the estimate is for CUDA. The
parts that can be read exactly (trainable count, weight bytes, optimizer state bytes) are set
beside the estimate's on any device.

    .venv/bin/python bench/train_memory.py --gpu     # 1.1B, seq 1024, batch 4 (one H100/H200)
    .venv/bin/python bench/train_memory.py --cpu     # tiny config, a few steps (CI)
    .venv/bin/python bench/train_memory.py --cpu --shape llama-1b --layers 1 --seq-len 256 --batch-size 1
        # the 1.1B shape's live tensors on the CPU, one layer: per-layer and per-token figures

Writes bench/results/train_memory.{json,md} (or --out DIR).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _common import device_info, pick_device, write_results  # noqa: E402
from _train_memory_compare import add_baseline, compare, estimate_for  # noqa: E402
from _train_memory_setup import METHODS, SIZES, build_model, row_spec, write_data  # noqa: E402


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--gpu", action="store_true",
                       help="the 1.1B config on CUDA (the default where CUDA is)")
    where.add_argument("--cpu", action="store_true", help="the tiny config on the CPU, a couple of steps")
    parser.add_argument("--quick", action="store_true", help="half the timed steps")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="examples per step (default: gpu 4, cpu 2)")
    parser.add_argument("--seq-len", type=int, default=None,
                        help="tokens per example (default: gpu 1024, cpu 64)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps first (default: gpu 3, cpu 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: gpu 10, cpu 2)")
    parser.add_argument("--shape", choices=("llama-1b", "tiny"), default=None,
                        help="model shape (default: llama-1b on the GPU, tiny on the CPU); llama-1b on "
                        "the CPU with --layers 1 or 2 and a short --seq-len measures its live tensors per "
                        "layer and token")
    parser.add_argument("--layers", type=int, default=None, help="override the shape's layer count")
    parser.add_argument("--lora-rank", type=int, default=16, help="LoRA rank for both methods")
    parser.add_argument("--lora-dropout", type=float, default=None,
                        help="LoRA dropout for both methods (default: each entry point's: LoRA 0.05, "
                        "QLoRA 0)")
    parser.add_argument("--methods", default="lora,qlora", help="comma list of lora, qlora")
    parser.add_argument("--no-live-bytes", action="store_true",
                        help="skip the live-tensor meter on the first step (the CPU's memory figure; "
                        "a cross-check of the allocator on CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="CPU mode: torch threads (1: steady timings)")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for train_memory.{json,md}")
    parser.add_argument("--logs", default=None,
                        help="folder to keep each row's runner output in (default: dropped with the "
                        "temp folder)")
    args = parser.parse_args(argv)
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; known: {', '.join(METHODS)}")
    if any(v is not None and v < 1 for v in (args.batch_size, args.seq_len, args.steps, args.layers)):
        parser.error("--batch-size, --seq-len, --steps and --layers must be at least 1")
    return args


def run_spec(spec: dict, work: Path) -> dict:
    """CPU: in this process (one start of torch for all rows). CUDA: a process per row."""
    log = work / f"{spec['name']}.log"
    if spec["device"] != "cuda":
        from _train_memory_row import run_row

        with open(log, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return run_row(spec)
    spec_file, result_file = work / f"{spec['name']}.spec.json", work / f"{spec['name']}.result.json"
    spec_file.write_text(json.dumps(spec))
    with open(log, "w") as sink:
        code = subprocess.call([sys.executable, str(HERE / "_train_memory_row.py"), str(spec_file),
                                str(result_file)], stdout=sink, stderr=subprocess.STDOUT, cwd=HERE.parent)
    if result_file.exists():
        return json.loads(result_file.read_text())
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    return {"error": f"row process exited {code}: {' | '.join(tail)[:400]}"}


def versions() -> dict:
    import importlib.metadata as meta

    out = {}
    for package in ("torch", "transformers", "peft", "bitsandbytes", "accelerate"):
        with contextlib.suppress(meta.PackageNotFoundError):
            out[package] = meta.version(package)
    return out


def sizes(args, device: str) -> dict:
    size = dict(SIZES["gpu" if device == "cuda" else "cpu"])
    for key, value in (("batch", args.batch_size), ("seq_len", args.seq_len), ("warmup", args.warmup),
                       ("steps", args.steps)):
        size[key] = size[key] if value is None else value
    if args.quick and args.steps is None:
        size["steps"] = max(2, size["steps"] // 2)
    return size


def main(argv=None) -> int:
    from _train_memory_report import markdown

    from train.tools.params import read_config

    args = parse(argv)
    device = pick_device(args, "train_memory")
    if device is None:
        return 2
    size, started = sizes(args, device), time.perf_counter()
    command = "python bench/train_memory.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": command.strip(), "device": device,
              "machine": device_info(**versions()), "sizes": size, "lora_rank": args.lora_rank, "rows": []}
    with tempfile.TemporaryDirectory(prefix="train_memory-") as temp:
        work = Path(temp)
        shape = args.shape or ("llama-1b" if device == "cuda" else "tiny")
        result["model"] = build_model(work / "model", shape, args.layers, size["seq_len"])
        print(f"train_memory on {device}: Llama {result['model']['params']:,} parameters, "
              f"{size['batch']} x {size['seq_len']} tokens a step", flush=True)
        write_data(work / "train.arrow", size["batch"] * (size["warmup"] + size["steps"]), size["seq_len"],
                   result["model"]["shape"]["vocab_size"])
        config = read_config(str(work / "model"))
        for method in args.methods.split(","):
            for checkpointing in (False, True):
                spec = row_spec(method, checkpointing, args, size, work, device)
                row = {"method": method, "label": METHODS[method]["label"], "checkpointing": checkpointing,
                       "argv": [a.replace(temp, "$WORK") for a in spec["argv"]], **run_spec(spec, work)}
                row.update(compare(row, estimate_for(config, spec, size, args.lora_rank), device))
                result["gpu"] = row.pop("gpu", result.get("gpu"))
                result["rows"].append(row)
                if args.logs:
                    Path(args.logs).mkdir(parents=True, exist_ok=True)
                    shutil.copy(work / f"{spec['name']}.log", Path(args.logs) / f"{spec['name']}.log")
                print(f"  {row['label']:10s} checkpointing {'on ' if checkpointing else 'off'} "
                      f"{row.get('tokens_per_s', 0):10.1f} tokens/s  {row.get('error', '')}", flush=True)
    add_baseline(result["rows"])
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(result)
    write_results("train_memory", result, text, args.out)
    print(text)
    return 0 if all("tokens_per_s" in r for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
