"""The round-trip check of an export: transformers reads the GGUF back, and its logits on a few
prompts are compared with the source model's.

Both models run in float32 on the CPU on the same token ids (the source tokenizer's), so the
difference measures the file alone, not the compute dtype. The figures:
  max_abs_diff   the largest |logit difference| over every prompt, position and vocabulary entry;
  rel_diff       max_abs_diff / the standard deviation of the source logits (a scale-free figure:
                 a random tiny model has logits near 0.1, a trained one near 10);
  argmax_agree   the fraction of positions whose top-1 token is the same in both.
The tolerances per outtype (TOLERANCE) come from measurements on SmolLM2-135M and a tiny
random Llama: f16 is exact for bf16 weights (rel_diff 0 on SmolLM2) and off by rounding for fp32
ones (0.0015 on the tiny model); q8_0 rounds each block of 32 weights to 8 bits (rel_diff 0.04
tiny, 0.21 on SmolLM2 with 94.5 % top-1 agreement over 55 positions).
The GGUF tokenizer is also compared: the same text must give the same ids apart from a BOS
token that one side adds; a mismatch is reported, not failed, as the logits do not depend on it.
"""
from __future__ import annotations

from pathlib import Path

PROMPTS = (
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "def add(a, b):\n    return a + b\n\n# a test for add",
    "The quick brown fox jumps over the lazy dog, 1 2 3 4 5.",
)
# outtype -> (largest rel_diff, smallest argmax_agree) that pass.
TOLERANCE = {"f16": (0.02, 0.98), "q8_0": (0.25, 0.85)}


def load_gguf(path: Path):
    """(model, tokenizer) as transformers reads the GGUF, weights dequantized to float32."""
    # torch, transformers: imported here to keep them off the CLI's start-up path
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Recent transformers keep GGUF weights packed unless asked to unpack; older ones lack GgufConfig.
    try:
        from transformers import GgufConfig
        unpack = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:
        unpack = {}
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32, **unpack)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return model.eval(), tokenizer


def strip_bos(ids: list[int], bos: int | None) -> list[int]:
    return ids[1:] if ids and bos is not None and ids[0] == bos else ids


def compare(source_dir: Path, gguf_path: Path, outtype: str, prompts=PROMPTS) -> dict:
    """The figures above, and ``passed`` against TOLERANCE[outtype]."""
    # torch, transformers: imported here to keep them off the CLI's start-up path
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = AutoModelForCausalLM.from_pretrained(source_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(source_dir)
    model, gguf_tokenizer = load_gguf(gguf_path)
    worst, spread, agree, positions, token_mismatch = 0.0, [], 0, 0, []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
            expected, got = source(input_ids=ids).logits[0], model(input_ids=ids).logits[0]
            if expected.shape != got.shape:
                return {"passed": False, "error": f"logits shape {tuple(got.shape)} from the GGUF, "
                        f"{tuple(expected.shape)} from the source"}
            worst = max(worst, (expected - got).abs().max().item())
            spread.append(expected.std().item())
            agree += (expected.argmax(-1) == got.argmax(-1)).sum().item()
            positions += ids.shape[1]
            ours = strip_bos(ids[0].tolist(), tokenizer.bos_token_id)
            theirs = strip_bos(gguf_tokenizer(prompt)["input_ids"], gguf_tokenizer.bos_token_id)
            if ours != theirs:
                token_mismatch.append(prompt)
    scale = sum(spread) / len(spread)
    rel = worst / scale if scale else float("inf")
    max_rel, min_agree = TOLERANCE[outtype]
    return {"outtype": outtype, "prompts": len(prompts), "positions": positions, "max_abs_diff": worst,
            "logit_std": scale, "rel_diff": rel, "argmax_agree": agree / positions,
            "tolerance": {"rel_diff": max_rel, "argmax_agree": min_agree},
            "tokenizer_same_ids": not token_mismatch, "tokenizer_mismatch": token_mismatch,
            "passed": rel <= max_rel and agree / positions >= min_agree}


def describe(figures: dict) -> str:
    if "error" in figures:
        return f"check FAILED: {figures['error']}"
    tol = figures["tolerance"]
    text = (f"check {'passed' if figures['passed'] else 'FAILED'} ({figures['outtype']}, "
            f"{figures['prompts']} prompts, {figures['positions']} positions): max |logit diff| "
            f"{figures['max_abs_diff']:.3g} = {figures['rel_diff']:.3g} x the logits' std "
            f"{figures['logit_std']:.3g} (at most {tol['rel_diff']}); top-1 agreement "
            f"{figures['argmax_agree']:.1%} (at least {tol['argmax_agree']:.0%})")
    if not figures["tokenizer_same_ids"]:
        text += f"; note: the GGUF tokenizer splits {len(figures['tokenizer_mismatch'])} prompt(s) differently"
    return text
