"""Estimate a training run's GPU memory (weights, gradients, optimizer, activations) from the config.

Nothing is loaded: the parameter counts come from config.json (see train/params.py for the
count formulas and the field-name table). Parts, in bytes, with P all parameters, T trainable
ones, Q the block linear weights that QLoRA quantizes, w = 2 for bf16/fp16 and 4 for fp32:

weights
  full    P * w        (the 16-bit working copy; with fp32, the weights themselves)
  lora    P * w + T*4  (frozen base in 16-bit; PEFT keeps the adapter weights in fp32)
  qlora   Q * 0.516 + (P - Q) * w + T*4
          0.516 bytes = 4 bits (0.5) + one 8-bit absmax per 64 weights (1/64) + one fp32
          constant per 256 of those (4/16384): NF4 with double quantization. Embeddings, norms
          and the LM head stay 16-bit.
gradients
  full    P * w;   lora, qlora   T * 4
optimizer states, bytes per trainable parameter
  adamw 8 (fp32 m and v); adamw-8bit and paged-adamw-8bit 2 (8-bit m and v; paged ones are
  counted as if resident); sgd 0 (no momentum). A full run in bf16/fp16 adds 4 for the fp32
  master copy: mixed-precision AdamW = 2 + 2 + 12 = 16 bytes a parameter (Transformer Math 101).
  HF Trainer's amp keeps fp32 weights and grads instead (4 + 4 + 8): the same 16, split otherwise.
activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
  Models"), s sequence length, b batch size, h hidden size, a heads, L layers, 16-bit:
  per layer  s*b*h * (34 + 5*a*s/h) bytes; --attention sdpa (the default: PyTorch SDPA or flash
             attention) never stores the a*s*s attention scores and drops the 5as/h term.
  no checkpointing    L * per layer
  checkpointing       L * 2*s*b*h (each layer's input) + 1 * per layer (one layer recomputed)
  fp32 activations double these. LoRA and QLoRA store the same: backward still passes through
  the frozen layers.
logits    s*b*V*4 (the fp32 logits the loss is computed from; V vocab size)
CUDA context  --cuda-context-gib (default 0.75 GiB; 0.5 to 1 GiB depending on GPU and CUDA)
Not counted: LoRA dropout's copy of each target's input, allocator fragmentation, kernel
workspaces, evaluation. 1 GiB = 2**30 bytes.
"""
from __future__ import annotations

import argparse
import json

from prep.errors import StageError
from train.params import counts, lora_params, read_config, shape_of

GIB = 2 ** 30
NF4_DOUBLE_QUANT_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
PRECISION_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw-8bit": 2, "paged-adamw-8bit": 2, "paged-adamw-32bit": 8, "sgd": 0}
# HF TrainingArguments spellings of the same optimizers.
OPTIMIZER_ALIASES = {"adamw-torch": "adamw", "adamw-torch-fused": "adamw", "adamw-hf": "adamw",
                     "adamw-bnb-8bit": "adamw-8bit"}
ATTENTION_SCORES = {"sdpa": False, "eager": True}
ADAPTER_BYTES = 4


def optimizer_name(text: str) -> str:
    name = text.replace("_", "-").lower()
    name = OPTIMIZER_ALIASES.get(name, name)
    if name not in OPTIMIZER_STATE_BYTES:
        raise argparse.ArgumentTypeError(f"unknown optimizer {text!r}; known: {', '.join(OPTIMIZER_STATE_BYTES)}")
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--model_name_or_path", dest="model", required=True,
                        help="a model folder with config.json, a config.json file, or a hub id in the local cache")
    parser.add_argument("--method", required=True, choices=("full", "lora", "qlora"), help="what is trained")
    parser.add_argument("--seq-len", "--seq_len", "--max-length", dest="seq_len", type=int, required=True,
                        help="tokens per sequence")
    parser.add_argument("--batch-size", "--batch_size", "--per_device_train_batch_size", dest="batch_size",
                        type=int, required=True, help="sequences per step on one GPU")
    parser.add_argument("--gradient-checkpointing", "--gradient_checkpointing", dest="checkpointing",
                        action="store_true", help="keep only each layer's input and recompute the rest")
    parser.add_argument("--lora-rank", "--lora_rank", "--lora_r", dest="lora_rank", type=int, default=16,
                        help="LoRA rank r (lora and qlora)")
    parser.add_argument("--lora-targets", "--lora_target_modules", dest="lora_targets", default="all-linear",
                        help="comma list of module leaf names, or all-linear")
    parser.add_argument("--optimizer", "--optim", dest="optimizer", type=optimizer_name, default="adamw",
                        help=f"one of {', '.join(OPTIMIZER_STATE_BYTES)} (HF spellings accepted)")
    parser.add_argument("--precision", choices=tuple(PRECISION_BYTES), default="bf16",
                        help="training precision of weights and activations")
    parser.add_argument("--attention", choices=tuple(ATTENTION_SCORES), default="sdpa",
                        help="sdpa/flash never stores attention scores; eager stores a*s*s per layer")
    parser.add_argument("--cuda-context-gib", type=float, default=0.75, help="CUDA context and allocator overhead")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")


def activation_bytes(s, seq: int, batch: int, checkpointing: bool, scores: bool, act_bytes: int) -> float:
    """Korthikanti et al.: s*b*h*(34 + 5as/h) per layer (16-bit), the 5as/h term only with scores."""
    h, a = s.hidden, s.heads
    per_layer = seq * batch * h * (34 + (5 * a * seq / h if scores else 0)) * act_bytes / 2
    if checkpointing:
        return s.layers * 2 * seq * batch * h * act_bytes / 2 + per_layer
    return s.layers * per_layer


def estimate(config: dict, method: str, seq_len: int, batch_size: int, checkpointing: bool = False,
             lora_rank: int = 16, lora_targets: str = "all-linear", optimizer: str = "adamw",
             precision: str = "bf16", attention: str = "sdpa", cuda_context_gib: float = 0.75) -> dict:
    """Bytes per part and the counts behind them."""
    if seq_len <= 0 or batch_size <= 0 or lora_rank <= 0:
        raise StageError("--seq-len, --batch-size and --lora-rank must be positive")
    s = shape_of(config)
    n = counts(s)
    w = PRECISION_BYTES[precision]
    state = OPTIMIZER_STATE_BYTES[optimizer]
    total = n["total"]
    if method == "full":
        trainable = total
        master = 4 if w == 2 else 0
        weights, grads, opt = total * w, total * w, total * (state + master)
    else:
        trainable = lora_params(s, lora_targets, lora_rank)
        base = total * w if method == "lora" else \
            n["block_linear"] * NF4_DOUBLE_QUANT_BYTES + (total - n["block_linear"]) * w
        weights = base + trainable * ADAPTER_BYTES
        grads, opt = trainable * ADAPTER_BYTES, trainable * state
    parts = {
        "weights": weights, "gradients": grads, "optimizer states": opt,
        "activations": activation_bytes(s, seq_len, batch_size, checkpointing, ATTENTION_SCORES[attention], w),
        "logits": seq_len * batch_size * s.vocab * 4,
        "CUDA context": cuda_context_gib * GIB,
    }
    return {
        "method": method, "params": total, "trainable": trainable, "layout": s.layout,
        "shape": {k: getattr(s, k) for k in ("hidden", "layers", "heads", "kv_heads", "head_dim",
                                             "intermediate", "vocab", "tied")},
        "options": {"seq_len": seq_len, "batch_size": batch_size, "gradient_checkpointing": checkpointing,
                    "lora_rank": lora_rank if method != "full" else None,
                    "lora_targets": lora_targets if method != "full" else None,
                    "optimizer": optimizer, "precision": precision, "attention": attention},
        "bytes": {k: int(round(v)) for k, v in parts.items()},
        "gib": {k: v / GIB for k, v in parts.items()},
        "total_gib": sum(parts.values()) / GIB,
        "notes": s.notes,
    }


def table(result: dict, model: str) -> str:
    shape, opts = result["shape"], result["options"]
    lines = [
        f"model       {model} ({result['layout']} layout: {shape['layers']} layers, hidden {shape['hidden']}, "
        f"{shape['heads']} heads / {shape['kv_heads']} kv, intermediate {shape['intermediate']}, vocab "
        f"{shape['vocab']}, {'tied' if shape['tied'] else 'untied'} embeddings)",
        f"params      {result['params']:,} total, {result['trainable']:,} trainable ({result['method']}"
        + (f", rank {opts['lora_rank']} on {opts['lora_targets']})" if opts["lora_rank"] else ")"),
        f"run         seq {opts['seq_len']} x batch {opts['batch_size']}, {opts['precision']}, "
        f"{opts['optimizer']}, {opts['attention']} attention, gradient checkpointing "
        f"{'on' if opts['gradient_checkpointing'] else 'off'}",
        "",
        f"{'part':<18}{'GiB':>10}",
    ]
    lines += [f"{name:<18}{gib:>10.3f}" for name, gib in result["gib"].items()]
    lines.append(f"{'total':<18}{result['total_gib']:>10.3f}")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.model)
    result = estimate(config, args.method, args.seq_len, args.batch_size, args.checkpointing,
                      args.lora_rank, args.lora_targets, args.optimizer, args.precision, args.attention,
                      args.cuda_context_gib)
    print(json.dumps(result, indent=1) if args.json else table(result, args.model))
    return 0
