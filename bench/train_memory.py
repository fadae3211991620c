"""Training memory and speed of LoRA bf16 and QLoRA through the project's runner, beside `tunesmith estimate`.

A Llama model built from a config with random weights (no download), saved once in bf16 with a
tiny tokenizer: about 1.1B parameters on the GPU (hidden 2048, 16 layers, 32 heads, 8 KV heads,
MLP 8192, vocabulary 32000), the tiny 2-layer hidden-64 one on the CPU. Synthetic Arrow data:
every example exactly --seq-len tokens, labels = input_ids, so each step holds batch x seq-len
real tokens. Each row trains with the real entry point, its own parsing and its flags:

  LoRA bf16  train.hf_trainer --use_lora --lora_rank R --lora_target_modules all-linear --bf16 true
             --optim adamw_torch
  QLoRA      train.qlora --bits 4 --double_quant true --quant_type nf4 --optim paged_adamw_32bit
             --bf16 true --lora_r R --lora_target_modules all-linear (its other defaults kept)

with gradient checkpointing off and on, --max_steps warm-up + timed, and --lora_dropout given
explicitly (--lora-dropout, else each entry point's default), so that the estimate
(train.tools.estimate.estimate) is asked about the very run: config, method, seq len, batch,
checkpointing, rank, targets, dropout and optimizer. Tokens/s covers the timed steps (a clock
read after a device synchronisation at the end of each step). On the GPU each row runs in a
process of its own, so that one row's allocator pool and CUDA peak cannot leak into the next.

Memory: on CUDA the peak of allocated bytes from the start of training + the paged optimizer
states (bitsandbytes keeps them in unified memory, outside PyTorch's allocator) against the
estimate WITHOUT its CUDA-context part (the context is not allocated through PyTorch); the
reserved peak and the measured context are listed beside it. On the CPU the memory figure is
the model's tensors + the peak of live tensor bytes over the first step (a dispatch-mode meter);
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
import dataclasses
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    LLAMA_1B,
    RESULTS,
    TINY_LLAMA,
    Peak,
    command,
    describe,
    device_info,
    guarded,
    live_bytes_mode,
    pick_device,
    show_bytes,
    storage_addresses,
    sync,
    table,
    tests_module,
    write_results,
)

# mode -> examples per step, tokens per example, warm-up steps, timed steps (--quick halves timed)
SIZES = {"gpu": dict(batch=4, seq_len=1024, warmup=3, steps=10),
         # Two warm-up steps: the CPU meter watches the warm-up, and on the first step the optimizer
         # states do not exist yet when the loss-backward peak comes (on CUDA they always do).
         "cpu": dict(batch=2, seq_len=64, warmup=2, steps=2)}
TARGETS = "all-linear"
METHODS = {
    "lora": {"label": "LoRA bf16", "entry": "train.hf_trainer", "optim": "adamw_torch", "data": "--train_file",
             "rank": "--lora_rank", "flags": ["--use_lora", "--bf16", "true"]},
    "qlora": {"label": "QLoRA nf4", "entry": "train.qlora", "optim": "paged_adamw_32bit", "data": "--dataset",
              "rank": "--lora_r",
              "flags": ["--bits", "4", "--double_quant", "true", "--quant_type", "nf4", "--bf16", "true",
                        "--eval_dataset_size", "0", "--gradient_accumulation_steps", "1"]},
}
AIM = 0.15  # |measured / estimate - 1| within this
NOT_JUDGED = "n/a, the estimate is for CUDA"


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
    parser.add_argument("--out", default=str(RESULTS), help="folder for train_memory.{json,md}")
    parser.add_argument("--logs", default=None,
                        help="folder to keep each row's runner output in (default: dropped with the "
                        "temp folder)")
    parser.add_argument("--row", nargs=2, metavar=("SPEC", "RESULT"), default=None,
                        help="run the one row SPEC.json describes and write its figures to RESULT.json "
                        "(how each CUDA row runs in a process of its own)")
    args = parser.parse_args(argv)
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; known: {', '.join(METHODS)}")
    if any(v is not None and v < 1 for v in (args.batch_size, args.seq_len, args.steps, args.layers)):
        parser.error("--batch-size, --seq-len, --steps and --layers must be at least 1")
    return args


def build_model(folder: Path, shape_name: str, layers: int | None, seq_len: int) -> dict:
    """A random bf16 Llama and a tokenizer saved in ``folder``; returns the config's shape and count."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = tests_module("tiny").make_tokenizer(folder, "bos_eos")  # ~300 tokens: fits any vocabulary
    shape = dict(LLAMA_1B) if shape_name == "llama-1b" else {**TINY_LLAMA, "vocab_size": len(tokenizer)}
    if layers:
        shape["num_hidden_layers"] = layers
    config = LlamaConfig(**shape, max_position_embeddings=max(4096, seq_len), tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = model.num_parameters()
    model.save_pretrained(folder)
    return {"shape": shape, "params": params}


def write_data(path: Path, rows: int, seq_len: int, vocab: int) -> None:
    """``rows`` examples of exactly ``seq_len`` random ids (clear of the special ids below 10)."""
    import numpy as np

    from prep.tokenize.arrow_io import write_arrow

    ids = np.random.default_rng(0).integers(10, vocab, size=(rows, seq_len)).tolist()
    write_arrow(({"input_ids": row, "labels": row} for row in ids), path)


def lora_arguments(parsed_or_types):
    """The LoRA dataclass (or its instance) among an entry point's parsed arguments or types."""
    return next(p for p in parsed_or_types if any(f.name == "lora_dropout" for f in dataclasses.fields(p)))


def lora_settings(method: str, args) -> dict:
    """Rank, targets and dropout of a row: given to the entry point and to the estimate alike.
    The dropout is --lora-dropout or the entry point's own default (read from its dataclass)."""
    dropout = args.lora_dropout
    if dropout is None:
        fields = dataclasses.fields(lora_arguments(importlib.import_module(METHODS[method]["entry"]).types()))
        dropout = next(f.default for f in fields if f.name == "lora_dropout")
    return {"rank": args.lora_rank, "targets": TARGETS, "dropout": dropout}


def row_spec(method: str, checkpointing: bool, args, size: dict, work: Path, device: str) -> dict:
    m, lora = METHODS[method], lora_settings(method, args)
    name = f"{method}-{'ckpt' if checkpointing else 'nockpt'}"
    argv = ["--model_name_or_path", str(work / "model"), m["data"], str(work / "train.arrow"),
            "--output_dir", str(work / name), *m["flags"], m["rank"], str(lora["rank"]),
            "--lora_target_modules", lora["targets"], "--lora_dropout", str(lora["dropout"]),
            "--optim", m["optim"], "--per_device_train_batch_size", str(size["batch"]),
            "--max_steps", str(size["warmup"] + size["steps"]),
            "--activation_checkpointing", str(checkpointing).lower(), "--logging_steps", "1",
            "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"]
    return {"name": name, "method": method, "checkpointing": checkpointing, "entry": m["entry"], "argv": argv,
            "lora": lora, "device": device, "warmup": size["warmup"], "track": not args.no_live_bytes,
            "tokens_per_step": size["batch"] * size["seq_len"]}


def state_bytes(optimizer) -> tuple[int, int]:
    """(all optimizer state bytes, the part held in paged unified memory)."""
    import torch

    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the real optimizer
    total = paged = 0
    for state in inner.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                nbytes = value.numel() * value.element_size()
                total += nbytes
                paged += nbytes if getattr(value, "is_paged", False) else 0
    return total, paged


def model_tensors(model) -> list:
    """Parameters, buffers and 4-bit quantization constants (a QuantState's absmax, code, offset
    and those of its nested state)."""
    import torch

    def quant(state) -> list:
        if state is None:
            return []
        return [v for v in vars(state).values() if isinstance(v, torch.Tensor)] + \
            quant(getattr(state, "state2", None))

    return [*model.parameters(), *model.buffers(),
            *(t for p in model.parameters() for t in quant(getattr(p, "quant_state", None)))]


def tensor_bytes(model) -> dict:
    """Bytes the model's tensors hold, by dtype (each storage counted once), and the trainable
    parameter count: what the estimate's weights term and trainable count describe."""
    seen, by_dtype = set(), {}
    for t in model_tensors(model):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in seen:
            seen.add(key)
            name = str(t.dtype).removeprefix("torch.")
            by_dtype[name] = by_dtype.get(name, 0) + t.numel() * t.element_size()
    return {"model_tensor_bytes": sum(by_dtype.values()), "model_bytes_by_dtype": by_dtype,
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def meter_class():
    """A TrainerCallback class (built on first use: transformers loads only then)."""
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        """Step end times and the training peak; figures land in ``self.figures``."""

        def __init__(self, device: str, track_until: int | None):
            self.device, self.track_until = device, track_until  # live bytes over the first steps (None: not)
            self.times: list[float] = []
            self.peak, self.figures, self.tracker = Peak(device), {}, None

        def on_train_begin(self, args, state, control, **kwargs):
            import torch

            self.figures.update(tensor_bytes(kwargs["model"]))
            if self.device == "cuda":
                torch.cuda.synchronize()
                # what stays allocated through training: weights (quantized or not) and adapters
                self.figures["static_bytes"] = torch.cuda.memory_allocated()
            if self.track_until is not None:
                known = storage_addresses(model_tensors(kwargs["model"]))
                self.tracker = live_bytes_mode()(known, self.device)
                self.tracker.__enter__()
            self.peak.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            import torch

            sync(self.device)
            if self.tracker is not None and state.global_step >= self.track_until:
                self.tracker.__exit__(None, None, None)
                self.figures["tracked_peak_bytes"] = self.tracker.peak
                self.tracker = None
            self.times.append(time.perf_counter())
            if state.global_step < state.max_steps:
                return
            self.peak.__exit__(None, None, None)
            self.figures["peak_bytes"] = self.peak.bytes
            if self.device == "cuda":
                self.figures["reserved_bytes"] = torch.cuda.max_memory_reserved()
            total, paged = state_bytes(kwargs["optimizer"])
            self.figures.update(optimizer_state_bytes=total, paged_state_bytes=paged)

    return Meter


def measure(spec: dict) -> dict:
    """``spec``'s argv parsed as ``python -m ENTRY`` parses it, trained for its steps with a Meter."""
    import torch

    from train.lm.runner import parse_cli, run_parsed

    device, module = spec["device"], importlib.import_module(spec["entry"])
    # device memory in use right after CUDA starts, before any tensor: the context (a lent GPU
    # runs nothing else)
    context = (lambda free, total: total - free)(*torch.cuda.mem_get_info()) if device == "cuda" else None
    parsed = parse_cli(spec["argv"], module.types(), module.PROG, getattr(module, "LEADING", ()))
    if hasattr(module, "check"):
        module.check(parsed)
    lora = lora_arguments(parsed)
    meter = meter_class()(device, track_until=max(1, spec["warmup"]) if spec["track"] else None)
    try:
        record = run_parsed(parsed, callbacks=[meter])
    finally:
        if meter.tracker is not None:  # training stopped early: leave no mode behind for the next row
            meter.tracker.__exit__(None, None, None)
    # timed from the end of the last warm-up step (or of the first step: a start is needed)
    first, times = max(spec["warmup"], 1), meter.times
    if len(times) <= first:
        return {"error": f"only {len(times)} steps ran; nothing timed after step {first}"}
    seconds, timed = times[-1] - times[first - 1], len(times) - first
    return {"steps_timed": timed, "seconds": seconds, "tokens_per_s": timed * spec["tokens_per_step"] / seconds,
            "cuda_context_bytes": context, "global_step": record["global_step"],
            "train_loss": record["metrics"].get("train_loss"),
            "runner_lora": {"rank": lora.lora_rank, "targets": lora.lora_target_modules,
                            "dropout": lora.lora_dropout}, **meter.figures}


def run_row(spec: dict) -> dict:
    """The row's figures, or {"error": ...} (out of memory, a setup error, a missing kernel)."""
    from prep.core.errors import StageError

    def attempt():
        try:
            return measure(spec)
        except StageError as exc:
            return {"error": f"setup: {exc}"}

    return guarded(attempt, spec["device"])


def row_process(spec_file: str, result_file: str) -> int:
    """--row SPEC.json RESULT.json: one row in this process, its figures (and the GPU's) as JSON."""
    spec = json.loads(Path(spec_file).read_text())
    result = run_row(spec)
    if spec["device"] == "cuda":
        import torch

        props = torch.cuda.get_device_properties(0)
        result["gpu"] = {"name": props.name, "memory_bytes": props.total_memory,
                         "capability": f"{props.major}.{props.minor}"}
    Path(result_file).write_text(json.dumps(result, indent=1, default=str))
    return 0


def run_spec(spec: dict, work: Path) -> dict:
    """CPU: in this process (one start of torch for all rows). CUDA: a process per row."""
    log = work / f"{spec['name']}.log"
    if spec["device"] != "cuda":
        with open(log, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return run_row(spec)
    spec_file, result_file = work / f"{spec['name']}.spec.json", work / f"{spec['name']}.result.json"
    spec_file.write_text(json.dumps(spec))
    with open(log, "w") as sink:
        code = subprocess.call([sys.executable, __file__, "--row", str(spec_file), str(result_file)],
                               stdout=sink, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
    if result_file.exists():
        return json.loads(result_file.read_text())
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    return {"error": f"row process exited {code}: {' | '.join(tail)[:400]}"}


def estimate_for(config: dict, spec: dict, size: dict) -> dict:
    from train.tools.estimate import estimate, optimizer_name

    lora = spec["lora"]
    return estimate(config, spec["method"], size["seq_len"], size["batch"], spec["checkpointing"],
                    lora_rank=lora["rank"], lora_targets=lora["targets"], lora_dropout=lora["dropout"],
                    optimizer=optimizer_name(METHODS[spec["method"]]["optim"]), precision="bf16",
                    attention="sdpa")


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
    options = est["options"]
    out = {"estimate_bytes": without_context, "estimate_with_context_bytes": without_context + context,
           "estimate_parts": est["bytes"], "trainable": est["trainable"],
           "estimate_lora": {"rank": options["lora_rank"], "targets": options["lora_targets"],
                             "dropout": options["lora_dropout"]}}
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


def _x(value) -> str:
    return "" if value is None else f"{value:.2f}x"


def _on(row: dict) -> str:
    return "on" if row["checkpointing"] else "off"


def _pair(measured, estimated, fmt=show_bytes) -> str:
    if measured is None:
        return f"n/a / {fmt(estimated)}"
    return f"{fmt(measured)} / {fmt(estimated)} ({measured / estimated:.2f})" if estimated else fmt(measured)


def main_table(result: dict) -> list[str]:
    cuda, rows = result["device"] == "cuda", []
    for r in result["rows"]:
        if "tokens_per_s" not in r:
            rows.append([r["label"], _on(r), r.get("error", "no figures"), "", "", "", "",
                         show_bytes(r["estimate_bytes"]), "", ""])
            continue
        verdict = NOT_JUDGED if "within_aim" not in r else "yes" if r["within_aim"] else "no"
        rows.append([r["label"], _on(r), f"{r['tokens_per_s']:,.0f}", _x(r.get("speed_vs_lora")),
                     show_bytes(r.get("peak_bytes") if cuda else r.get("tracked_peak_bytes")),
                     show_bytes(r.get("paged_state_bytes")) if cuda else "n/a",
                     show_bytes(r.get("measured_bytes")), show_bytes(r["estimate_bytes"]),
                     "" if r.get("ratio") is None else f"{r['ratio']:.2f}", verdict])
    return table(("method", "checkpointing", "tokens/s", "speed vs LoRA",
                  "peak allocated" if cuda else "peak of live tensors, first step", "paged optimizer states",
                  "measured", "estimate (no CUDA context)", "measured / estimate", "within 15%"), rows)


def parts_table(result: dict) -> list[str]:
    """The parts that can be read exactly from the model and optimizer, on any device."""
    rows = []
    for r in result["rows"]:
        parts = r["estimate_parts"]
        by_dtype = sorted((r.get("model_bytes_by_dtype") or {}).items())
        dtypes = ", ".join(f"{k} {show_bytes(v)}" for k, v in by_dtype)
        rows.append([r["label"], _on(r), _pair(r.get("trainable_params"), r["trainable"], "{:,}".format),
                     _pair(r.get("model_tensor_bytes"), parts["weights"]),
                     _pair(r.get("optimizer_state_bytes"), parts["optimizer states"]), dtypes])
    return table(("method", "checkpointing", "trainable parameters: runner / estimate",
                  "weights: model tensors / estimate", "optimizer states: measured / estimate",
                  "model tensors by dtype"), rows)


def detail_table(result: dict) -> list[str]:
    rows = []
    for r in result["rows"]:
        parts = r["estimate_parts"]
        live = "" if r.get("live_vs_allocator") is None else \
            f"{show_bytes(r['tracked_peak_bytes'])} ({r['live_vs_allocator']:.2f})"
        total = "" if r.get("device_total_ratio") is None else \
            _pair(r["device_total_bytes"], r["estimate_with_context_bytes"])
        rows.append([r["label"], _on(r), show_bytes(r.get("static_bytes")), show_bytes(parts["activations"]),
                     show_bytes(parts["logits"]), live, show_bytes(r.get("reserved_bytes")),
                     show_bytes(r.get("cuda_context_bytes")), total])
    return table(("method", "checkpointing", "allocated when training began", "estimate: activations",
                  "estimate: logits", "live tensors, first step (/ allocator growth)", "reserved peak",
                  "CUDA context", "reserved + context + paged / estimate with context"), rows)


def setting_lines(result: dict) -> list[str]:
    model, sizes, gpu = result["model"], result["sizes"], result.get("gpu")
    shape = model["shape"]
    dropouts = " and ".join(dict.fromkeys(f"{r['estimate_lora']['dropout']:g} ({r['label']})" for r in result["rows"]))
    where = (f"GPU: {gpu['name']} ({show_bytes(gpu['memory_bytes'])}, compute capability {gpu['capability']})."
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
        f"on all linear layers, LoRA dropout {dropouts}, SDPA attention.", "",
        "Rows run the project's runner with the entry point's own parsing (`train.hf_trainer` for LoRA bf16 "
        "with AdamW, `train.qlora` for QLoRA: NF4, double quantization, paged AdamW 32-bit, bf16), gradient "
        "checkpointing off and on, each entry point's other defaults kept; the estimate is asked about the "
        "same rank, targets and dropout. The exact flags are in the JSON (`argv`).",
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
    if any(r["method"] == "qlora" and r.get("model_tensor_bytes")
           and r["model_tensor_bytes"] > 1.05 * r["estimate_parts"]["weights"] for r in result["rows"]):
        lines += [QLORA_WEIGHTS, ""]
    if cuda:
        lines += [DETAIL, "", *detail_table(result), ""]
    return "\n".join(lines)


def sizes(args, device: str) -> dict:
    size = dict(SIZES["gpu" if device == "cuda" else "cpu"])
    for key, value in (("batch", args.batch_size), ("seq_len", args.seq_len), ("warmup", args.warmup),
                       ("steps", args.steps)):
        size[key] = size[key] if value is None else value
    if args.quick and args.steps is None:
        size["steps"] = max(2, size["steps"] // 2)
    return size


def main(argv=None) -> int:
    from train.tools.params import read_config

    args = parse(argv)
    if args.row:
        return row_process(*args.row)
    device = pick_device(args, "train_memory")
    if device is None:
        return 2
    size, started = sizes(args, device), time.perf_counter()
    machine = device_info("torch", "transformers", "peft", "bitsandbytes", "accelerate")
    result = {"command": command("train_memory", argv), "device": device, "machine": machine, "sizes": size,
              "lora_rank": args.lora_rank, "rows": []}
    with tempfile.TemporaryDirectory(prefix="train_memory-") as temp:
        work = Path(temp)
        shape = args.shape or ("llama-1b" if device == "cuda" else "tiny")
        result["model"] = build_model(work / "model", shape, args.layers, size["seq_len"])
        print(f"train_memory on {device}: Llama {result['model']['params']:,} parameters, "
              f"{size['batch']} x {size['seq_len']} tokens a step", flush=True)
        write_data(work / "train.arrow", size["batch"] * (size["warmup"] + size["steps"]), size["seq_len"],
                   result["model"]["shape"]["vocab_size"])
        config = read_config(str(work / "model"))
        for method, checkpointing in ((m, c) for m in args.methods.split(",") for c in (False, True)):
            spec = row_spec(method, checkpointing, args, size, work, device)
            row = {"method": method, "label": METHODS[method]["label"], "checkpointing": checkpointing,
                   "argv": [a.replace(temp, "$WORK") for a in spec["argv"]], **run_spec(spec, work)}
            row.update(compare(row, estimate_for(config, spec, size), device))
            result["gpu"] = row.pop("gpu", result.get("gpu"))
            result["rows"].append(row)
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                shutil.copy(work / f"{spec['name']}.log", Path(args.logs) / f"{spec['name']}.log")
            print(f"  {row['label']:10s} checkpointing {_on(row):3s} {row.get('tokens_per_s', 0):10.1f} tokens/s  "
                  f"{row.get('error', '')}", flush=True)
    add_baseline(result["rows"])
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(result)
    write_results("train_memory", result, text, args.out)
    print(text)
    return 0 if all("tokens_per_s" in r for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
