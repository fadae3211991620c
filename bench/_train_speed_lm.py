"""bench/train_speed.py, part (b): causal LM fine-tuning, the guide's set-up against the best settings.

Llama models built from a config with random weights (no download): about 1.1B parameters
(hidden 2048, 16 layers, 32 heads, 8 KV heads, MLP 8192, vocabulary 32000) for full, LoRA
and QLoRA, and the Llama-3-8B shape for QLoRA. Synthetic examples with lognormal lengths
(median 350 tokens, capped at 2048). Both set-ups use bf16 autocast, AdamW and the same
example stream; they differ in what the switches change:

- guide: every batch of B examples padded to the maximum length, SDPA attention, no packing,
  no Liger kernels.
- best: padding-free packing (examples concatenated up to B x max_len tokens per step, the
  same token budget), flash_attention_2 where flash-attn is installed (else SDPA with the
  block-diagonal mask), Liger kernels where liger-kernel and CUDA are present.

Gradient checkpointing is on for the 8B in both (it does not fit the 7.4 GiB aim without); the
best settings also keep the checkpointed layer inputs in pinned host memory (offload).
Tokens/s counts real tokens only. MFU = k x N x tokens/s / peak bf16 dense FLOP/s, with k = 6
for a full fine-tune (forward 2, backward 4 per weight and token) and 4 for LoRA/QLoRA (the
frozen base computes no weight gradients), N = the weights that take part in matmuls (all
parameters but the input embedding table, a lookup); attention scores are not counted.
"""
from __future__ import annotations

import importlib.util
from functools import partial

from _train_speed_common import Peak, adamw, autocast, guarded, run_steps, skewed_lengths

SHAPES = {
    "llama-1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                     intermediate_size=8192, vocab_size=32000),
    "llama-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                     intermediate_size=14336, vocab_size=128256, rope_theta=500000.0),
}
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=320)
# (shape, method, examples per step, gradient checkpointing)
RUNS = (("llama-1b", "full", 4, False), ("llama-1b", "lora", 4, False), ("llama-1b", "qlora", 4, False),
        ("llama-8b", "qlora", 2, True))
SIZES = {"gpu": {"max_len": 2048, "median": 350, "warmup": 2, "steps": 8},
         "cpu": {"max_len": 128, "median": 24, "warmup": 1, "steps": 2}}
K_FLOPS = {"full": 6, "lora": 4, "qlora": 4}
LORA_RANK = 16


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


def build(shape: dict, method: str, setup: dict, checkpointing: bool, max_len: int, device: str):
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


def examples(size: dict, vocab: int, seed: int = 0):
    """An endless seeded stream of {input_ids, labels} with skewed lengths."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    block = 0
    while True:
        for length in skewed_lengths(256, size["median"], size["max_len"], seed + block, sigma=0.9):
            ids = torch.randint(10, vocab, (length,), generator=generator).tolist()
            yield {"input_ids": ids, "labels": ids}
        block += 1


def padded_groups(stream, per_step: int):
    while True:
        yield [next(stream) for _ in range(per_step)]


def packed_groups(stream, budget: int):
    """Consecutive examples, as many as fit in ``budget`` tokens (at least one)."""
    pending = next(stream)
    while True:
        group, used = [], 0
        while not group or used + len(pending["input_ids"]) <= budget:
            group.append(pending)
            used += len(pending["input_ids"])
            pending = next(stream)
        yield group


def batches(size: dict, vocab: int, per_step: int, packing: bool, count: int) -> list[dict]:
    """``count`` batches: B examples padded to max_len, or packed up to B x max_len tokens."""
    import itertools

    from train.lm.collate import PadCollator
    from train.lm.packing import PaddingFreeCollator

    stream = examples(size, vocab)
    if packing:
        groups, collate = packed_groups(stream, per_step * size["max_len"]), PaddingFreeCollator()
    else:
        groups, collate = padded_groups(stream, per_step), PadCollator(0, pad_to_multiple_of=size["max_len"])
    return [collate(group) for group in itertools.islice(groups, count)]


def measure(shape: dict, method: str, per_step: int, checkpointing: bool, setup: dict, size: dict,
            device: str) -> dict:
    from train.lm.packing import real_tokens

    steps = size["warmup"] + size["steps"]
    data = [{k: v.to(device) if hasattr(v, "to") else v for k, v in b.items()}
            for b in batches(size, shape["vocab_size"], per_step, setup["packing"], steps)]
    model, weights = build(shape, method, setup, checkpointing, size["max_len"], device)
    optimizer = adamw(model.parameters(), device, lr=1e-5)

    def step(batch):
        with autocast(device, True):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with Peak(device) as peak:
        seconds = run_steps(step, data[:size["warmup"]], data[size["warmup"]:], device)
    tokens = sum(real_tokens(b) for b in data[size["warmup"]:])
    padded = sum(b["input_ids"].numel() for b in data[size["warmup"]:])
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "real_tokens": tokens, "padded_tokens": padded,
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
    shape, method, per_step, checkpointing, size, device = args
    row = guarded(partial(measure, shape, method, per_step, checkpointing, setup, size, device), device)
    optional = setup["liger"] or setup["attn"] != "sdpa"
    if "error" in row and optional and row["error"] != "out of memory":
        plain = {**setup, "liger": False, "attn": "sdpa"}
        return {**plain, **measured(plain, *args), "fell_back": row["error"]}
    return {**setup, **row}


def run(device: str, quick: bool, peak_flops: float | None, log=print) -> dict:
    size = dict(SIZES["gpu" if device == "cuda" else "cpu"])
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
            log(f"lm       {row['model']:22s} {method:5s} {setup_name:5s} {row.get('tokens_per_s', 0):10.1f} "
                f"tokens/s  {row.get('error', '')} {row.get('fell_back', '')}")
        if all("tokens_per_s" in r for r in pair.values()):
            pair["best"]["speedup"] = pair["best"]["tokens_per_s"] / pair["guide"]["tokens_per_s"]
    return {"config": size, "rows": rows}
