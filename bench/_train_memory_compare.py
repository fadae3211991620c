"""bench/train_memory.py: each row set beside `tunesmith estimate` for the same run."""
from __future__ import annotations

from _train_memory_setup import METHODS

AIM = 0.15  # |measured / estimate - 1| within this


def estimate_for(config: dict, spec: dict, size: dict, rank: int) -> dict:
    from train.tools.estimate import estimate, optimizer_name

    return estimate(config, spec["method"], size["seq_len"], size["batch"], spec["checkpointing"], rank,
                    "all-linear", optimizer_name(METHODS[spec["method"]]["optim"]), "bf16", "sdpa")


def measured_bytes(row: dict, device: str) -> int | None:
    """CUDA: peak allocated + paged optimizer states. CPU: the model's tensors + the peak of the
    live tensor bytes the first step made (CPU kernels), the stand-in for the same figure."""
    if device == "cuda":
        paged = row.get("paged_state_bytes") or 0
        return None if row.get("peak_bytes") is None else row["peak_bytes"] + paged
    if row.get("tracked_peak_bytes") is None:
        return None
    return row["model_tensor_bytes"] + row["tracked_peak_bytes"]


def compare(row: dict, est: dict, device: str) -> dict:
    """What is set beside the estimate; the verdict on CUDA only (the estimate is for CUDA)."""
    context = est["bytes"]["CUDA context"]
    without_context = sum(est["bytes"].values()) - context
    out = {"estimate_bytes": without_context, "estimate_with_context_bytes": without_context + context,
           "estimate_parts": est["bytes"], "trainable": est["trainable"]}
    measured = measured_bytes(row, device)
    if measured is None:
        return out
    out.update(measured_bytes=measured, ratio=measured / without_context)
    if device != "cuda":
        return out
    out["within_aim"] = abs(out["ratio"] - 1) <= AIM
    if row.get("tracked_peak_bytes") is not None and row.get("static_bytes") is not None:
        out["live_vs_allocator"] = row["tracked_peak_bytes"] / max(1, row["peak_bytes"] - row["static_bytes"])
    if row.get("reserved_bytes") is not None and row.get("cuda_context_bytes") is not None:
        device_total = row["reserved_bytes"] + row["cuda_context_bytes"] + (row.get("paged_state_bytes") or 0)
        out["device_total_bytes"] = device_total
        out["device_total_ratio"] = device_total / out["estimate_with_context_bytes"]
    return out


def add_baseline(rows: list[dict]) -> None:
    """Speed and memory of each row relative to LoRA bf16 without checkpointing (same run)."""
    base = next((r for r in rows if r["method"] == "lora" and not r["checkpointing"] and "tokens_per_s" in r),
                None)
    for row in rows if base else ():
        if "tokens_per_s" in row:
            row["speed_vs_lora"] = row["tokens_per_s"] / base["tokens_per_s"]
            if row.get("measured_bytes") and base.get("measured_bytes"):
                row["memory_vs_lora"] = row["measured_bytes"] / base["measured_bytes"]
