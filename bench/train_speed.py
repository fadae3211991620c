"""Training speed: each optimisation switch against a baseline measured in the same run.

(a) the encoder classifier (BERT-base shape, random weights, skewed lengths up to 512):
    the seed's baseline (eager attention, fp32, no compile, pad to max length, post-LN)
    against SDPA attention, torch.compile, bf16 autocast, uniform length batching, pre-LN,
    and all of them together, beside the figures the seed claimed.
(b) causal LM fine-tuning (Llama ~1.1B: full, LoRA, QLoRA; Llama-3-8B shape: QLoRA): the
    guide's set-up against padding-free packing + flash/SDPA + Liger, in real tokens/s, MFU
    and peak memory.

    .venv/bin/python bench/train_speed.py --gpu          # the real figures (one H100/H200)
    .venv/bin/python bench/train_speed.py --cpu          # tiny configs, a few steps (CI)

Writes bench/results/train_speed.{json,md} (or --out DIR) with the device, versions and command.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _common import cpu_model, pick_device, write_results  # noqa: E402

# Dense bf16 tensor FLOP/s per GPU (vendor data sheets), for MFU; most specific name first.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12))


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--gpu", action="store_true", help="full-size configs on CUDA (fails without a GPU)")
    where.add_argument("--cpu", action="store_true", help="tiny configs on the CPU (the default without CUDA)")
    parser.add_argument("--only", choices=("all", "encoder", "lm"), default="all", help="which part to run")
    parser.add_argument("--quick", action="store_true", help="fewer batches and steps")
    parser.add_argument("--compile-on-cpu", action="store_true",
                        help="also time torch.compile on the CPU (building it takes minutes there)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 TFLOP/s for MFU (default: from its name; H100 SXM 989)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU mode: torch threads (1 gives steady timings on a shared machine)")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for train_speed.{json,md}")
    return parser.parse_args(argv)


def device_info(device: str, peak_tflops: float | None) -> dict:
    import torch

    if device != "cuda":
        return {"device": "cpu", "name": cpu_model() or platform.machine(),
                "threads": torch.get_num_threads(), "peak_flops": None}
    name = torch.cuda.get_device_name()
    peak = peak_tflops * 1e12 if peak_tflops else next((f for key, f in PEAK_BF16 if key in name), None)
    return {"device": "cuda", "name": name, "peak_flops": peak,
            "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)}


def versions() -> dict:
    import importlib.metadata as meta

    out = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft", "bitsandbytes", "liger-kernel", "flash-attn", "triton"):
        try:
            out[package] = meta.version(package)
        except meta.PackageNotFoundError:
            out[package] = None
    return out


def main(argv=None) -> int:
    from _train_speed_report import aims, markdown

    args = parse(argv)
    device = pick_device(args, "train_speed")
    if device is None:
        return 2
    info = device_info(device, args.peak_tflops)
    command = "python bench/train_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"train_speed on {info['name']} ({device})", flush=True)
    started = time.perf_counter()
    result = {"command": command.strip(), "device": info, "versions": versions()}
    if args.only in ("all", "encoder"):
        from _train_speed_encoder import run as run_encoder
        result["encoder"] = run_encoder(device, args.quick, compile_ok=device == "cuda" or args.compile_on_cpu)
    if args.only in ("all", "lm"):
        from _train_speed_lm import run as run_lm
        result["lm"] = run_lm(device, args.quick, info["peak_flops"])
    result["aims"] = aims(result.get("lm"), device)
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(result)
    write_results("train_speed", result, text, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
