"""bench/train_memory.py: the Markdown page."""
from __future__ import annotations

from _common import describe

NOT_JUDGED = "n/a, the estimate is for CUDA"
GIB, MIB = 2 ** 30, 2 ** 20


def size(value) -> str:
    """Bytes in GiB, MiB or KiB, whichever shows them best (the CPU mode's figures are KiBs)."""
    if value is None:
        return "n/a"
    if abs(value) >= 0.01 * GIB:
        return f"{value / GIB:.2f} GiB"
    return f"{value / MIB:.1f} MiB" if abs(value) >= MIB else f"{value / 1024:.1f} KiB"


def cells(*values) -> str:
    return "| " + " | ".join(str(v) for v in values) + " |"


def header(*names) -> list[str]:
    return [cells(*names), cells(*["---"] * len(names))]


def _x(value) -> str:
    return "" if value is None else f"{value:.2f}x"


def _on(row: dict) -> str:
    return "on" if row["checkpointing"] else "off"


def _ratio(value) -> str:
    return "" if value is None else f"{value:.2f}"


def main_table(result: dict) -> list[str]:
    cuda = result["device"] == "cuda"
    lines = header("method", "checkpointing", "tokens/s", "speed vs LoRA",
                   "peak allocated" if cuda else "peak of live tensors, first step", "paged optimizer states",
                   "measured", "estimate (no CUDA context)", "measured / estimate", "within 15%")
    for r in result["rows"]:
        if "tokens_per_s" not in r:
            lines.append(cells(r["label"], _on(r), r.get("error", "no figures"), "", "", "", "",
                               size(r["estimate_bytes"]), "", ""))
            continue
        verdict = NOT_JUDGED if "within_aim" not in r else "yes" if r["within_aim"] else "no"
        lines.append(cells(r["label"], _on(r), f"{r['tokens_per_s']:,.0f}", _x(r.get("speed_vs_lora")),
                           size(r.get("peak_bytes") if cuda else r.get("tracked_peak_bytes")),
                           size(r.get("paged_state_bytes")) if cuda else "n/a", size(r.get("measured_bytes")),
                           size(r["estimate_bytes"]), _ratio(r.get("ratio")), verdict))
    return lines


def _pair(measured, estimated, fmt=size) -> str:
    if measured is None:
        return f"n/a / {fmt(estimated)}"
    return f"{fmt(measured)} / {fmt(estimated)} ({measured / estimated:.2f})" if estimated else fmt(measured)


def parts_table(result: dict) -> list[str]:
    """The parts that can be read exactly from the model and optimizer, on any device."""
    lines = header("method", "checkpointing", "trainable parameters: runner / estimate",
                   "weights: model tensors / estimate", "optimizer states: measured / estimate",
                   "model tensors by dtype")
    for r in result["rows"]:
        parts = r["estimate_parts"]
        dtypes = ", ".join(f"{k} {size(v)}" for k, v in sorted((r.get("model_bytes_by_dtype") or {}).items()))
        trainable = _pair(r.get("trainable_params"), r["trainable"], "{:,}".format)
        lines.append(cells(r["label"], _on(r), trainable,
                           _pair(r.get("model_tensor_bytes"), parts["weights"]),
                           _pair(r.get("optimizer_state_bytes"), parts["optimizer states"]), dtypes))
    return lines


def detail_table(result: dict) -> list[str]:
    lines = header("method", "checkpointing", "allocated when training began", "estimate: activations",
                   "estimate: logits", "live tensors, first step (/ allocator growth)", "reserved peak",
                   "CUDA context", "reserved + context + paged / estimate with context")
    for r in result["rows"]:
        parts = r["estimate_parts"]
        live = "" if r.get("live_vs_allocator") is None else \
            f"{size(r['tracked_peak_bytes'])} ({r['live_vs_allocator']:.2f})"
        total = "" if r.get("device_total_ratio") is None else \
            _pair(r["device_total_bytes"], r["estimate_with_context_bytes"])
        lines.append(cells(r["label"], _on(r), size(r.get("static_bytes")), size(parts["activations"]),
                           size(parts["logits"]), live, size(r.get("reserved_bytes")),
                           size(r.get("cuda_context_bytes")), total))
    return lines


def setting_lines(result: dict) -> list[str]:
    model, sizes = result["model"], result["sizes"]
    shape, gpu = model["shape"], result.get("gpu")
    where = (f"GPU: {gpu['name']} ({size(gpu['memory_bytes'])}, compute capability {gpu['capability']})."
             if gpu else "CPU mode: a couple of steps on the CPU, to exercise the script and the exact "
             "parts; the CPU kernels are not CUDA's and the estimate is for CUDA, so no ratio is "
             "judged.")
    return [
        describe(result["command"], result["machine"]) + f" {result['seconds']} s.", "", where, "",
        f"Model: Llama built from a config, random weights saved in bf16, {model['params']:,} parameters "
        f"(hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers, "
        f"{shape['num_attention_heads']} heads / {shape['num_key_value_heads']} KV heads, MLP "
        f"{shape['intermediate_size']}, vocabulary {shape['vocab_size']}, untied). Each step: "
        f"{sizes['batch']} examples x {sizes['seq_len']} tokens (no padding, labels = input_ids); "
        f"{sizes['warmup']} warm-up step(s), then {sizes['steps']} timed. LoRA rank {result['lora_rank']} "
        "on all linear layers, SDPA attention.", "",
        "Rows run the project's runner with the entry point's own parsing (`train.hf_trainer` for LoRA bf16 "
        "with AdamW, `train.qlora` for QLoRA: NF4, double quantization, paged AdamW 32-bit, bf16), gradient "
        "checkpointing off and on, each entry point's other defaults kept (LoRA dropout: 0.05 and 0). The "
        "exact flags are in the JSON (`argv`).",
    ]


COMPARED = {
    "cuda": "What is compared: the measured figure is the CUDA peak of allocated bytes from the start of "
            "training to the last step (weights, adapters, gradients, optimizer states, activations, "
            "logits, temporaries) plus the paged optimizer states, which bitsandbytes keeps in unified "
            "memory outside PyTorch's allocator; the estimate is `tunesmith estimate`'s total for the same "
            "config and options WITHOUT its CUDA-context part. Within 15%: "
            "|measured / estimate - 1| <= 0.15.",
    "cpu": "What is compared: the measured figure is the model's tensors plus the peak of live tensor bytes "
           "that the first training step made (a dispatch-mode meter: every new storage counted until freed, "
           "the CPU's stand-in for CUDA's allocated peak), against `tunesmith estimate`'s total WITHOUT its "
           "CUDA-context part. The ratio is shown, not judged.",
}
QLORA_WEIGHTS = ("QLoRA weights above the estimate's: the runner prepares the 4-bit model with PEFT's "
                 "prepare_model_for_kbit_training, which turns the weights it does not quantize (embeddings, "
                 "norms, LM head) to fp32; the estimate counts them at 2 bytes.")
DETAIL = ("Where the rest goes: what was allocated when training began (weights and adapters), the "
          "estimate's activation and logits parts, the CPU mode's live-tensor meter over the first step (in "
          "brackets: against the allocator's growth, a check of that meter), and the allocator's reserved "
          "peak plus the CUDA context (device memory in use before the first tensor) plus the paged states "
          "beside the estimate's total with its context (not judged).")


def markdown(result: dict) -> str:
    cuda = result["device"] == "cuda"
    lines = ["# Training memory: LoRA bf16 and QLoRA through the runner, beside `tunesmith estimate`", "",
             *setting_lines(result), "",
             COMPARED["cuda" if cuda else "cpu"] + " Speed vs LoRA: tokens/s against the LoRA bf16 row "
             "without checkpointing, measured in the same run.", "", *main_table(result), "",
             "Parts read exactly from the model and the optimizer (when training began and at the last step; "
             "measured / estimate, ratio), on any device:", "", *parts_table(result), ""]
    upcast = [r for r in result["rows"] if r["method"] == "qlora" and r.get("model_tensor_bytes")
              and r["model_tensor_bytes"] > 1.05 * r["estimate_parts"]["weights"]]
    if upcast:
        lines += [QLORA_WEIGHTS, ""]
    if cuda:
        lines += [DETAIL, "", *detail_table(result), ""]
    return "\n".join(lines)
