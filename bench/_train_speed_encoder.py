"""bench/train_speed.py, part (a): the encoder classifier, baseline against each switch.

The same synthetic samples (lognormal lengths, median 80 tokens, capped at 512; random token
ids and labels) go through one training epoch per variant, on a fresh model with the same
random initial weights. The baseline is the seed's: eager attention, fp32, no compile, every
batch padded to the maximum length, post-layer-norm. Each other row changes one thing.
"""
from __future__ import annotations

from functools import partial

from _train_speed_common import Peak, adamw, autocast, guarded, run_steps, skewed_lengths

BASE = {"attention": "eager", "norm": "post", "compile": False, "bf16": False, "length_batching": False}
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

SIZES = {
    # BERT-base shape, 32 x 512 batches, 30 batches per epoch (960 samples).
    "gpu": {"preset": "scratch-base", "vocab": 30522, "batch": 32, "batches": 30, "median": 80, "cap": 512},
    "cpu": {"preset": "scratch-tiny", "vocab": 1000, "batch": 16, "batches": 4, "median": 24, "cap": 128},
}
WARMUP_BATCHES = 3


def make_batches(size: dict, length_batching: bool, seed: int = 0) -> list[dict]:
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


def measure(settings: dict, size: dict, device: str) -> dict:
    import torch

    from train.classify.scratch_encoder import EncoderClassifier, preset

    batches = [{k: v.to(device) for k, v in b.items()} for b in make_batches(size, settings["length_batching"])]
    with Peak(device) as peak:
        torch.manual_seed(0)
        config = preset(size["preset"], vocab_size=size["vocab"], num_labels=2,
                        attention=settings["attention"], norm=settings["norm"])
        model = EncoderClassifier(config).to(device).train()
        forward = torch.compile(model) if settings["compile"] else model
        optimizer = adamw(model.parameters(), device, lr=1e-4)

        def step(batch):
            with autocast(device, settings["bf16"]):
                loss = forward(**batch)["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        # Compiling sees each padded shape once: warm up on the whole epoch so that no
        # compilation is timed; otherwise a few batches warm the kernels and the allocator.
        seconds = run_steps(step, batches if settings["compile"] else batches[:WARMUP_BATCHES], batches, device)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["input_ids"].numel() for b in batches)
    samples = sum(len(b["labels"]) for b in batches)
    return {"samples_per_s": samples / seconds, "seconds": seconds, "samples": samples, "peak_bytes": peak.bytes,
            "real_tokens": real, "padded_tokens": padded}


def run(device: str, quick: bool, compile_ok: bool, log=print) -> dict:
    """{"config": ..., "rows": [...]}: one row per variant, with ratios against the baseline."""
    size = dict(SIZES["gpu" if device == "cuda" else "cpu"])
    if quick:
        size["batches"] = max(4, size["batches"] // 3)
    rows = []
    for name, change in VARIANTS.items():
        settings = {**BASE, **change}
        if settings["compile"] and not compile_ok:
            settings["compile"] = False
            if name == "torch.compile":
                rows.append({"variant": name, "skipped": "torch.compile on the CPU takes minutes to build; "
                             "run with --compile-on-cpu to include it"})
                continue
            name += " (without compile)"
        row = {"variant": name, "settings": settings, **guarded(partial(measure, settings, size, device), device)}
        rows.append(row)
        log(f"encoder  {name:48s} {row.get('samples_per_s', 0):10.1f} samples/s  {row.get('error', '')}")
    base = rows[0]
    for row in rows:
        if "samples_per_s" in row and "samples_per_s" in base:
            row["speedup"] = row["samples_per_s"] / base["samples_per_s"]
        if device == "cuda" and row.get("peak_bytes") and base.get("peak_bytes"):  # RSS growth: not comparable
            row["memory_reduction"] = 1.0 - row["peak_bytes"] / base["peak_bytes"]
        row["seed_claim"] = SEED_CLAIMS.get(row["variant"].split(" (without")[0])
    return {"config": size, "rows": rows}
