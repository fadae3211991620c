"""bench/train_speed.py: the aims checked and the Markdown tables."""
from __future__ import annotations

from _train_speed_common import GIB, gib

AIM_8B_PEAK_GIB = 7.4


def _find(rows: list[dict], model: str, method: str, setup: str) -> dict:
    return next((r for r in rows if model in r["model"] and r["method"] == method and r["setup"] == setup), {})


def aims(lm: dict | None, device: str) -> dict:
    """The issue's aims on one H100, with the measured value; ``met`` is None off the GPU."""
    if not lm:
        return {}
    rows = lm["rows"]
    checks = {
        "LoRA 1B >= 2x the guide's real tokens/s": (_find(rows, "llama-1b", "lora", "best").get("speedup"), 2.0, ">="),
        "QLoRA 1B >= 2x the guide's real tokens/s": (_find(rows, "llama-1b", "qlora", "best").get("speedup"), 2.0, ">="),
        "QLoRA 8B >= 2x the guide's real tokens/s": (_find(rows, "llama-8b", "qlora", "best").get("speedup"), 2.0, ">="),
        "full 1B MFU >= 45%": (_find(rows, "llama-1b", "full", "best").get("mfu"), 0.45, ">="),
        "QLoRA 8B at 2 x 2048 peak < 7.4 GiB": ((_find(rows, "llama-8b", "qlora", "best").get("peak_bytes") or 0)
                                                / GIB or None, AIM_8B_PEAK_GIB, "<"),
    }
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
    c = part["config"]
    lines = [f"Encoder `{c['preset']}` (vocabulary {c['vocab']}), {c['batches']} batches of {c['batch']} samples, "
             f"lognormal lengths (median {c['median']}, cap {c['cap']}); one epoch timed per variant. fp32 rows use "
             "full-precision matmuls (PyTorch's default, no TF32).", "",
             "| variant | samples/s | speed-up | peak memory | memory reduction | seed's claim (speed / memory) |",
             "|---|---|---|---|---|---|"]
    for r in part["rows"]:
        claim = " / ".join(r["seed_claim"]) if r.get("seed_claim") else ""
        if "samples_per_s" not in r:
            lines.append(f"| {r['variant']} | {r.get('error') or r.get('skipped')} | | | | {claim} |")
            continue
        lines.append(f"| {r['variant']} | {r['samples_per_s']:.1f} | {_x(r.get('speedup'))} | {gib(r['peak_bytes'])} "
                     f"| {_pct(r.get('memory_reduction')) or 'n/a'} | {claim} |")
    base = part["rows"][0]
    if base.get("real_tokens"):
        lines += ["", f"Padding to the maximum length makes {base['padded_tokens']:,} token slots for "
                  f"{base['real_tokens']:,} real tokens ({base['real_tokens'] / base['padded_tokens']:.0%} used)."]
    return lines


def lm_table(part: dict) -> list[str]:
    lines = ["| model | method | set-up | batch | attention | packing | Liger | checkpointing | real tokens/s "
             "| speed-up | MFU | peak memory |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in part["rows"]:
        checkpointing = ("offloaded" if r["offload"] else "yes") if r["checkpointing"] else "no"
        head = (f"| {r['model']} | {r['method']} | {r['setup']} | {r['batch']} | {r['attn']} | "
                f"{'padding-free' if r['packing'] else 'pad to max'} | {'yes' if r['liger'] else 'no'} | "
                f"{checkpointing} |")
        if "tokens_per_s" not in r:
            lines.append(f"{head} {r.get('error')} | | | |")
            continue
        lines.append(f"{head} {r['tokens_per_s']:,.0f} | {_x(r.get('speedup'))} | {_pct(r.get('mfu')) or 'n/a'} "
                     f"| {gib(r['peak_bytes'])} |")
    lines += [f"{r['model']} {r['method']} {r['setup']}: measured without Liger/flash, which failed: "
              f"{r['fell_back']}" for r in part["rows"] if r.get("fell_back")]
    weights = {r["model"]: r["matmul_weights"] for r in part["rows"] if r.get("matmul_weights")}
    lines += ["", "Weights in matmuls (N): " + ", ".join(f"{m} {n / 1e9:.3f}B" if n > 1e8 else f"{m} {n:,}"
                                                       for m, n in weights.items()),
              "MFU = k x N x real tokens/s / peak dense bf16 FLOP/s; k = 6 (full), 4 (LoRA/QLoRA: no weight "
              "gradients for the frozen base); attention scores not counted."]
    return lines


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
        lines += ["## (a) Encoder classifier: each switch against the seed's baseline", ""]
        lines += encoder_table(result["encoder"]) + [""]
    if "lm" in result:
        lines += ["## (b) Causal LM fine-tuning: the guide's set-up against the best settings", ""]
        lines += lm_table(result["lm"]) + [""]
    if result.get("aims"):
        lines += ["## Aims (one H100)", "", "| aim | measured | met |", "|---|---|---|"]
        for name, aim in result["aims"].items():
            value = aim["value"]
            shown = "" if value is None else f"{value:.3f}"
            lines.append(f"| {name} | {shown} | {'n/a (CPU)' if aim['met'] is None else 'yes' if aim['met'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)
