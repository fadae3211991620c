"""Training speed: each optimisation switch against a baseline measured in the same run.

(a) the encoder classifier (BERT-base shape, random weights, lognormal lengths, median 80
    tokens, capped at 512): one epoch per variant on a fresh model with the same initial
    weights. The baseline is the seed's (eager attention, fp32, no compile, every batch padded
    to the maximum length, post-LN); each other row changes one thing (SDPA attention,
    torch.compile, bf16 autocast, uniform length batching, pre-LN), then all of them together,
    beside the figures the seed claimed.
(b) causal LM fine-tuning (Llama ~1.1B: full, LoRA, QLoRA; the Llama-3-8B shape: QLoRA, with
    gradient checkpointing, which the 7.4 GiB aim needs), random weights, lognormal lengths
    (median 350, capped at 2048), bf16 autocast and AdamW on both sides:
    - guide: B examples padded to the maximum length, SDPA attention, no packing, no Liger.
    - best: padding-free packing (examples concatenated up to the same B x max_len tokens),
      flash_attention_2 where flash-attn is installed (else SDPA with the block-diagonal mask),
      Liger kernels where liger-kernel and CUDA are present, checkpointed layer inputs kept in
      pinned host memory (offload).
    Tokens/s counts real tokens only. MFU = k x N x tokens/s / peak dense bf16 FLOP/s, k = 6 for
    a full fine-tune (forward 2, backward 4 per weight and token), 4 for LoRA/QLoRA (the frozen
    base computes no weight gradients); N = the weights in matmuls (all but the input embedding,
    a lookup); attention scores are not counted.

Timing: warm-up steps first (kernel selection, allocator growth, compilation), then the timed
steps between two device synchronisations. Peak memory: torch.cuda.max_memory_allocated over
the row on CUDA; on the CPU the growth of the resident set.

    .venv/bin/python bench/train_speed.py --gpu          # the real figures (one H100/H200)
    .venv/bin/python bench/train_speed.py --cpu          # tiny configs, a few steps (CI)

Writes bench/results/train_speed.{json,md} (or --out DIR) with the device, versions and command.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import platform
import sys
import time
from functools import partial

from _common import (
    GIB,
    LLAMA_1B,
    RESULTS,
    TINY_LLAMA,
    Peak,
    command,
    cpu_model,
    guarded,
    package_versions,
    pick_device,
    show_bytes,
    sync,
    table,
    write_results,
)

# Dense bf16 tensor FLOP/s per GPU (vendor data sheets), for MFU; most specific name first.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12))

ENCODER_BASE = {"attention": "eager", "norm": "post", "compile": False, "bf16": False, "length_batching": False}
VARIANTS = {
    "baseline (eager, fp32, post-LN, pad to max)": {},
    "sdpa attention": {"attention": "sdpa"},
    "torch.compile": {"compile": True},
    "bf16 autocast (AMP)": {"bf16": True},
    "uniform length batching": {"length_batching": True},
    "pre-LN + GELU (vs post-LN + GELU)": {"norm": "pre"},
    "all together": {"attention": "sdpa", "compile": True, "bf16": True, "length_batching": True, "norm": "pre"},
}
# The seed's table: speed-up and memory reduction it claimed for the change (Flash Attention
# there; PyTorch SDPA, which runs flash or memory-efficient kernels, here).
SEED_CLAIMS = {"sdpa attention": ("2.8x", "60%"), "torch.compile": ("1.4x", "22%"),
               "bf16 autocast (AMP)": ("1.8x", "35%"), "uniform length batching": ("1.3x", "73%")}
ENCODER_SIZES = {  # BERT-base shape, 32 x 512 batches, 30 batches per epoch (960 samples)
    "gpu": {"preset": "scratch-base", "vocab": 30522, "batch": 32, "batches": 30, "median": 80, "cap": 512},
    "cpu": {"preset": "scratch-tiny", "vocab": 1000, "batch": 16, "batches": 4, "median": 24, "cap": 128},
}
WARMUP_BATCHES = 3

SHAPES = {"llama-1b": LLAMA_1B,
          "llama-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                           intermediate_size=14336, vocab_size=128256, rope_theta=500000.0)}
TINY = {**TINY_LLAMA, "vocab_size": 320}
# (shape, method, examples per step, gradient checkpointing)
RUNS = (("llama-1b", "full", 4, False), ("llama-1b", "lora", 4, False), ("llama-1b", "qlora", 4, False),
        ("llama-8b", "qlora", 2, True))
LM_SIZES = {"gpu": {"max_len": 2048, "median": 350, "warmup": 2, "steps": 8},
            "cpu": {"max_len": 128, "median": 24, "warmup": 1, "steps": 2}}
K_FLOPS = {"full": 6, "lora": 4, "qlora": 4}
LORA_RANK = 16
AIM_8B_PEAK_GIB = 7.4
PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "liger-kernel", "flash-attn", "triton")


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
    parser.add_argument("--out", default=str(RESULTS), help="folder for train_speed.{json,md}")
    return parser.parse_args(argv)


def run_steps(step, warmup: list, timed: list, device: str) -> float:
    """Seconds for ``step`` over the ``timed`` batches, after running it over ``warmup``."""
    for batch in warmup:
        step(batch)
    sync(device)
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    sync(device)
    return time.perf_counter() - start


def trainer(model, forward, device: str, bf16: bool, lr: float):
    """A training step: forward (under bf16 autocast when asked), backward, fused AdamW on CUDA."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  fused=device == "cuda")

    def step(batch):
        with torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = forward(**batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def skewed_lengths(n: int, median: float, cap: int, seed: int, sigma: float = 0.8, low: int = 4) -> list[int]:
    """Lognormal lengths (most short, a long tail), clipped to [low, cap]: real text is skewed so."""
    import numpy as np

    lengths = np.exp(np.random.default_rng(seed).normal(np.log(median), sigma, n)).round().astype(int)
    return np.clip(lengths, low, cap).tolist()


def encoder_batches(size: dict, length_batching: bool, seed: int = 0) -> list[dict]:
    """The epoch's batches: random order padded to the cap, or length-grouped with dynamic padding."""
    import torch

    from train.lm.collate import LengthGroupedSampler

    n = size["batch"] * size["batches"]
    lengths = skewed_lengths(n, size["median"], size["cap"], seed)
    generator = torch.Generator().manual_seed(seed)
    tokens = [torch.randint(3, size["vocab"], (length,), generator=generator) for length in lengths]
    labels = torch.randint(0, 2, (n,), generator=generator)
    if length_batching:
        groups = LengthGroupedSampler(lengths, size["batch"], seed).batches()
    else:
        order = torch.randperm(n, generator=generator).tolist()
        groups = [order[i:i + size["batch"]] for i in range(0, n, size["batch"])]
    out = []
    for group in groups:
        width = -(-max(lengths[i] for i in group) // 8) * 8 if length_batching else size["cap"]
        ids = torch.zeros((len(group), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(group):
            ids[row, :lengths[i]] = tokens[i]
            mask[row, :lengths[i]] = 1
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels[group]})
    return out


def measure_encoder(settings: dict, size: dict, device: str) -> dict:
    import torch

    from train.classify.scratch_encoder import EncoderClassifier, preset

    batches = [{k: v.to(device) for k, v in b.items()} for b in encoder_batches(size, settings["length_batching"])]
    with Peak(device) as peak:
        torch.manual_seed(0)
        config = preset(size["preset"], vocab_size=size["vocab"], num_labels=2,
                        attention=settings["attention"], norm=settings["norm"])
        model = EncoderClassifier(config).to(device).train()
        forward = torch.compile(model) if settings["compile"] else model
        step = trainer(model, forward, device, settings["bf16"], lr=1e-4)
        # Compiling sees each padded shape once: warm up on the whole epoch so that no
        # compilation is timed; otherwise a few batches warm the kernels and the allocator.
        seconds = run_steps(step, batches if settings["compile"] else batches[:WARMUP_BATCHES], batches, device)
    return {"samples_per_s": sum(len(b["labels"]) for b in batches) / seconds, "seconds": seconds,
            "samples": sum(len(b["labels"]) for b in batches), "peak_bytes": peak.bytes,
            "real_tokens": sum(int(b["attention_mask"].sum()) for b in batches),
            "padded_tokens": sum(b["input_ids"].numel() for b in batches)}


def run_encoder(device: str, quick: bool, compile_ok: bool) -> dict:
    """{"config": ..., "rows": [...]}: one row per variant, with ratios against the baseline."""
    size = dict(ENCODER_SIZES["gpu" if device == "cuda" else "cpu"])
    if quick:
        size["batches"] = max(4, size["batches"] // 3)
    rows = []
    for name, change in VARIANTS.items():
        settings = {**ENCODER_BASE, **change}
        if settings["compile"] and not compile_ok:
            settings["compile"] = False
            if name == "torch.compile":
                rows.append({"variant": name, "skipped": "torch.compile on the CPU takes minutes to build; "
                             "run with --compile-on-cpu to include it"})
                continue
            name += " (without compile)"
        row = {"variant": name, "settings": settings,
               **guarded(partial(measure_encoder, settings, size, device), device)}
        rows.append(row)
        print(f"encoder  {name:48s} {row.get('samples_per_s', 0):10.1f} samples/s  {row.get('error', '')}",
              flush=True)
    base = rows[0]
    for row in rows:
        if "samples_per_s" in row and "samples_per_s" in base:
            row["speedup"] = row["samples_per_s"] / base["samples_per_s"]
        if device == "cuda" and row.get("peak_bytes") and base.get("peak_bytes"):  # RSS growth: not comparable
            row["memory_reduction"] = 1.0 - row["peak_bytes"] / base["peak_bytes"]
        row["seed_claim"] = SEED_CLAIMS.get(row["variant"].split(" (without")[0])
    return {"config": size, "rows": rows}


def quantize_4bit(model, device: str) -> None:
    """Every Linear but lm_head replaced in place by a bitsandbytes NF4 one (double quantized),
    one layer at a time, so that the 16-bit copy of the whole model is never needed twice."""
    import bitsandbytes as bnb
    import torch
    from torch import nn

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear) or name == "lm_head":
                continue
            layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=torch.bfloat16, quant_type="nf4", device="meta")
            layer.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4",
                                             compress_statistics=True, module=layer).to(device)
            layer.bias = child.bias
            setattr(parent, name, layer)
            del child
    model.is_loaded_in_4bit = True


def build_lm(shape: dict, method: str, setup: dict, checkpointing: bool, max_len: int, device: str):
    """(model ready to train, N matmul weights)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    from train.lm.packing import prepare_model
    from train.lm.switches import apply_liger

    config = LlamaConfig(**shape, max_position_embeddings=max_len, tie_word_embeddings=False)
    dtype = torch.float32 if method == "full" else torch.bfloat16  # full: fp32 master weights + AMP
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, attn_implementation=setup["attn"], dtype=dtype)
    matmul_weights = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    if method == "qlora":
        quantize_4bit(model, device)
    if setup["liger"]:
        apply_liger(model)
    prepare_model(model)  # no KV cache in training (packed positions need it off)
    if checkpointing:
        # also makes the embedding output require grad, which checkpointed frozen layers need
        model.activation_checkpointing_enable({"use_reentrant": False}, offload=setup["offload"])
    if method != "full":
        model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    return model.train(), matmul_weights


def lm_groups(size: dict, vocab: int, per_step: int, packing: bool, seed: int = 0):
    """Endless groups of seeded {input_ids, labels} examples with skewed lengths: ``per_step``
    examples each, or (packing) as many consecutive ones as fit in per_step x max_len tokens."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def stream():
        for block in itertools.count():
            for length in skewed_lengths(256, size["median"], size["max_len"], seed + block, sigma=0.9):
                ids = torch.randint(10, vocab, (length,), generator=generator).tolist()
                yield {"input_ids": ids, "labels": ids}

    examples, budget = stream(), per_step * size["max_len"]
    pending = next(examples)
    while True:
        group, used = [], 0
        while not group or (used + len(pending["input_ids"]) <= budget if packing else len(group) < per_step):
            group.append(pending)
            used += len(pending["input_ids"])
            pending = next(examples)
        yield group


def measure_lm(shape: dict, method: str, per_step: int, checkpointing: bool, setup: dict, size: dict,
               device: str) -> dict:
    from train.lm.collate import PadCollator
    from train.lm.packing import PaddingFreeCollator, real_tokens

    collate = PaddingFreeCollator() if setup["packing"] else PadCollator(0, pad_to_multiple_of=size["max_len"])
    groups = lm_groups(size, shape["vocab_size"], per_step, setup["packing"])
    data = [{k: v.to(device) if hasattr(v, "to") else v for k, v in collate(group).items()}
            for group in itertools.islice(groups, size["warmup"] + size["steps"])]
    model, weights = build_lm(shape, method, setup, checkpointing, size["max_len"], device)
    step = trainer(model, model, device, True, lr=1e-5)
    with Peak(device) as peak:
        seconds = run_steps(step, data[:size["warmup"]], data[size["warmup"]:], device)
    tokens = sum(real_tokens(b) for b in data[size["warmup"]:])
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "real_tokens": tokens,
            "padded_tokens": sum(b["input_ids"].numel() for b in data[size["warmup"]:]),
            "matmul_weights": weights, "peak_bytes": peak.bytes}


def setups(device: str) -> dict:
    flash = device == "cuda" and importlib.util.find_spec("flash_attn") is not None
    liger = device == "cuda" and importlib.util.find_spec("liger_kernel") is not None
    return {"guide": {"packing": False, "attn": "sdpa", "liger": False, "offload": False},
            "best": {"packing": True, "attn": "flash_attention_2" if flash else "sdpa", "liger": liger,
                     "offload": device == "cuda"}}  # pinned host memory needs a GPU


def measured(setup: dict, *args) -> dict:
    """The row's figures; where an optional kernel (Liger, flash) fails, measured again without it
    and the failure kept under ``fell_back`` (out of memory is a result, not a kernel failure)."""
    device = args[-1]
    row = guarded(partial(measure_lm, *args[:4], setup, *args[4:]), device)
    if "error" in row and (setup["liger"] or setup["attn"] != "sdpa") and row["error"] != "out of memory":
        plain = {**setup, "liger": False, "attn": "sdpa"}
        return {**plain, **measured(plain, *args), "fell_back": row["error"]}
    return {**setup, **row}


def run_lm(device: str, quick: bool, peak_flops: float | None) -> dict:
    size = dict(LM_SIZES["gpu" if device == "cuda" else "cpu"])
    if quick:
        size["steps"] = max(2, size["steps"] // 2)
    rows = []
    for shape_name, method, per_step, checkpointing in RUNS:
        shape = SHAPES[shape_name] if device == "cuda" else TINY
        pair = {}
        for setup_name, setup in setups(device).items():
            row = {"model": shape_name if device == "cuda" else f"tiny ({shape_name} row)", "method": method,
                   "setup": setup_name, "batch": f"{per_step} x {size['max_len']}", "checkpointing": checkpointing,
                   **measured(setup, shape, method, per_step, checkpointing, size, device)}
            if "tokens_per_s" in row and peak_flops:
                row["mfu"] = K_FLOPS[method] * row["matmul_weights"] * row["tokens_per_s"] / peak_flops
            pair[setup_name] = row
            rows.append(row)
            print(f"lm       {row['model']:22s} {method:5s} {setup_name:5s} {row.get('tokens_per_s', 0):10.1f} "
                  f"tokens/s  {row.get('error', '')} {row.get('fell_back', '')}", flush=True)
        if all("tokens_per_s" in r for r in pair.values()):
            pair["best"]["speedup"] = pair["best"]["tokens_per_s"] / pair["guide"]["tokens_per_s"]
    return {"config": size, "rows": rows}


def aims(lm: dict | None, device: str) -> dict:
    """The issue's aims on one H100, with the measured value; ``met`` is None off the GPU."""
    def best(model: str, method: str) -> dict:
        return next((r for r in lm["rows"] if model in r["model"] and r["method"] == method
                     and r["setup"] == "best"), {})

    if not lm:
        return {}
    peak_8b = best("llama-8b", "qlora").get("peak_bytes")
    checks = {f"{label} >= 2x the guide's real tokens/s": (best(model, method).get("speedup"), 2.0, ">=")
              for label, model, method in (("LoRA 1B", "llama-1b", "lora"), ("QLoRA 1B", "llama-1b", "qlora"),
                                           ("QLoRA 8B", "llama-8b", "qlora"))}
    checks["full 1B MFU >= 45%"] = (best("llama-1b", "full").get("mfu"), 0.45, ">=")
    checks["QLoRA 8B at 2 x 2048 peak < 7.4 GiB"] = (peak_8b / GIB if peak_8b else None, AIM_8B_PEAK_GIB, "<")
    out = {}
    for name, (value, target, op) in checks.items():
        met = None if device != "cuda" or value is None else (value >= target if op == ">=" else value < target)
        out[name] = {"value": value, "target": target, "met": met}
    return out


def _x(value) -> str:
    return "" if value is None else f"{value:.2f}x"


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def encoder_table(part: dict) -> list[str]:
    c, rows = part["config"], []
    for r in part["rows"]:
        claim = " / ".join(r["seed_claim"]) if r.get("seed_claim") else ""
        if "samples_per_s" not in r:
            rows.append([r["variant"], r.get("error") or r.get("skipped"), "", "", "", claim])
            continue
        rows.append([r["variant"], f"{r['samples_per_s']:.1f}", _x(r.get("speedup")), show_bytes(r["peak_bytes"]),
                     _pct(r.get("memory_reduction")) or "n/a", claim])
    lines = [f"Encoder `{c['preset']}` (vocabulary {c['vocab']}), {c['batches']} batches of {c['batch']} samples, "
             f"lognormal lengths (median {c['median']}, cap {c['cap']}); one epoch timed per variant. fp32 rows use "
             "full-precision matmuls (PyTorch's default, no TF32).", "",
             *table(("variant", "samples/s", "speed-up", "peak memory", "memory reduction",
                     "seed's claim (speed / memory)"), rows)]
    base = part["rows"][0]
    if base.get("real_tokens"):
        lines += ["", f"Padding to the maximum length makes {base['padded_tokens']:,} token slots for "
                  f"{base['real_tokens']:,} real tokens ({base['real_tokens'] / base['padded_tokens']:.0%} used)."]
    return lines


def lm_table(part: dict) -> list[str]:
    rows = []
    for r in part["rows"]:
        checkpointing = ("offloaded" if r["offload"] else "yes") if r["checkpointing"] else "no"
        head = [r["model"], r["method"], r["setup"], r["batch"], r["attn"],
                "padding-free" if r["packing"] else "pad to max", "yes" if r["liger"] else "no", checkpointing]
        rows.append(head + ([r.get("error"), "", "", ""] if "tokens_per_s" not in r else
                            [f"{r['tokens_per_s']:,.0f}", _x(r.get("speedup")), _pct(r.get("mfu")) or "n/a",
                             show_bytes(r["peak_bytes"])]))
    lines = table(("model", "method", "set-up", "batch", "attention", "packing", "Liger", "checkpointing",
                   "real tokens/s", "speed-up", "MFU", "peak memory"), rows)
    lines += [f"{r['model']} {r['method']} {r['setup']}: measured without Liger/flash, which failed: "
              f"{r['fell_back']}" for r in part["rows"] if r.get("fell_back")]
    weights = {r["model"]: r["matmul_weights"] for r in part["rows"] if r.get("matmul_weights")}
    return lines + ["", "Weights in matmuls (N): " + ", ".join(f"{m} {n / 1e9:.3f}B" if n > 1e8 else f"{m} {n:,}"
                                                                for m, n in weights.items()),
                    "MFU = k x N x real tokens/s / peak dense bf16 FLOP/s; k = 6 (full), 4 (LoRA/QLoRA: no weight "
                    "gradients for the frozen base); attention scores not counted."]


def markdown(result: dict) -> str:
    info = result["device"]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v)
    lines = ["# Training speed: the optimisation switches", "",
             f"`{result['command']}` on {info['name']} ({info['device']}"
             + (f", {info['threads']} thread(s)" if info["device"] == "cpu" else f", {info.get('memory_gib')} GiB")
             + f"), {result['seconds']} s.", f"Versions: {versions}.", ""]
    if info["device"] == "cpu":
        lines += ["CPU mode: tiny configs and a few steps, to exercise the script; the figures say nothing about "
                  "GPU speed-ups. Peak memory on the CPU is the growth of the resident set during the row, which "
                  "the allocator's reuse of freed memory makes order-dependent: indicative only.", ""]
    if "encoder" in result:
        lines += ["## (a) Encoder classifier: each switch against the seed's baseline", "",
                  *encoder_table(result["encoder"]), ""]
    if "lm" in result:
        lines += ["## (b) Causal LM fine-tuning: the guide's set-up against the best settings", "",
                  *lm_table(result["lm"]), ""]
    if result.get("aims"):
        lines += ["## Aims (one H100)", "", *table(("aim", "measured", "met"), (
            (name, "" if aim["value"] is None else f"{aim['value']:.3f}",
             "n/a (CPU)" if aim["met"] is None else "yes" if aim["met"] else "no")
            for name, aim in result["aims"].items())), ""]
    return "\n".join(lines)


def accelerator(device: str, peak_tflops: float | None) -> dict:
    import torch

    if device != "cuda":
        return {"device": "cpu", "name": cpu_model(), "threads": torch.get_num_threads(), "peak_flops": None}
    name = torch.cuda.get_device_name()
    peak = peak_tflops * 1e12 if peak_tflops else next((f for key, f in PEAK_BF16 if key in name), None)
    return {"device": "cuda", "name": name, "peak_flops": peak,
            "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / GIB, 1)}


def main(argv=None) -> int:
    args = parse(argv)
    device = pick_device(args, "train_speed")
    if device is None:
        return 2
    info, started = accelerator(device, args.peak_tflops), time.perf_counter()
    print(f"train_speed on {info['name']} ({device})", flush=True)
    installed = package_versions(*PACKAGES)
    result = {"command": command("train_speed", argv), "device": info,
              "versions": {"python": platform.python_version(), **{p: installed.get(p) for p in PACKAGES}}}
    if args.only in ("all", "encoder"):
        result["encoder"] = run_encoder(device, args.quick, compile_ok=device == "cuda" or args.compile_on_cpu)
    if args.only in ("all", "lm"):
        result["lm"] = run_lm(device, args.quick, info["peak_flops"])
    result["aims"] = aims(result.get("lm"), device)
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(result)
    write_results("train_speed", result, text, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
