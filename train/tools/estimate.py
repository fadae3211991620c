"""Estimate a training run's GPU memory (weights, gradients, optimizer, activations) from the config.

Nothing is loaded: the parameter counts come from config.json (see train/params.py for the
count formulas and the field-name table). Parts, in bytes, with P all parameters, T trainable
ones, Q the block linear weights that QLoRA quantizes, w = 2 for bf16/fp16 and 4 for fp32:

weights
  full    P * w        (the 16-bit working copy; with fp32, the weights themselves)
  lora    P * w + T*4  (frozen base in 16-bit; PEFT keeps the adapter weights in fp32)
  qlora   Q * 0.516 + (P - Q) * 4 + V*h*c + T*4
          0.516 bytes = 4 bits (0.5) + one 8-bit absmax per 64 weights (1/64) + one fp32
          constant per 256 of those (4/16384): NF4 with double quantization. The runner's
          prepare_model_for_kbit_training casts what stays unquantized (embeddings, norms, LM
          head) to fp32: 4 bytes (the FSDP path skips that cast; this estimate does not model
          it). Under autocast the fp32 LM head (V x h) also lives as a c-byte copy (c = 2
          with bf16/fp16) until backward. These weight terms, the gradients and the optimizer
          states follow Transformer Math 101; the activations below come from the runner.
gradients
  full    P * w;   lora, qlora   T * 4
optimizer states, bytes per trainable parameter
  adamw 8 (fp32 m and v); adamw-8bit and paged-adamw-8bit 2 (8-bit m and v; paged ones are
  counted as if resident); sgd 0 (no momentum). A full run in bf16/fp16 adds 4 for the fp32
  master copy: mixed-precision AdamW = 2 + 2 + 12 = 16 bytes a parameter (Transformer Math 101).
  HF Trainer's amp keeps fp32 weights and grads instead (4 + 4 + 8): the same 16, split otherwise.
activations, bytes per token (one token = one of s*b, s sequence length, b batch size), read
  from what a decoder layer of the runner saves for backward, not from a paper's rule (Transformer
  Math 101 and Korthikanti et al. 2022 count a fully trained layer without PEFT or the fp32
  upcasts). h hidden, i intermediate, q = H*d query width (H heads, d head size), k = K*d key and
  value width (K kv heads). Three widths: c the matmul dtype (2 under bf16/fp16 autocast, 4 in
  fp32); o the dtype linear outputs come back in and r the residual stream's, both = c, except
  QLoRA: prepare_model_for_kbit_training makes the embeddings fp32, so the residual stream is
  fp32 (r = 4) and the 4-bit layers return their input's dtype (o = 4). Per layer:
    norms        2 * 4h     RMSNorm saves its fp32 upcast of the input (LayerNorm: 2 * r*h);
                            full: + 2 * c*h, the normalised input its trainable weight needs
    gated MLP    3 * o*i    gate and up outputs (the SiLU and the product keep them) and the
                            SiLU output; a plain MLP: o*i (the GELU input)
    attention    c*(2q + 2k) + 4H   SDPA keeps q, k, v and its output, plus fp32 log-sum-exp;
                            --attention eager adds (4 + c)*H*s: the fp32 softmax and its copy
    linear inputs  full: c * (each distinct input: h + q + h + i), what the weight gradients
                            need; lora, qlora: c * (in + rank) for every targeted layer: PEFT
                            casts each target's input for its fp32 adapter and autocast keeps a
                            c-byte copy of it (the frozen base layer keeps none), plus the
                            rank-wide adapter middle; --lora-dropout > 0: + in bytes per target
                            (the 1-byte mask CUDA keeps); --use-dora: + (o + c) * out per target,
                            the base output and the adapter output its magnitude's gradient needs
                            (DoRA on embed_tokens/lm_head: only the parameters are counted)
  The Llama shape (i = 4h, K = H/4) gives about 57 bytes*h a token for LoRA on all linear layers,
  81 for QLoRA, 55 for a full run (these scale with i/h). Outside the layers: the final norm's fp32 input 4h (+ c*h,
  the head's input, in a full run).
  no checkpointing    L * per layer + outside
  checkpointing       L * r*h (each layer's input, kept by the checkpoint) + outside, + the one
                      recomputed layer only by what it exceeds the logits term: the peak comes
                      at the loss backward, before any layer is recomputed
logits    12 * s*b*V (V vocab): around the loss the fp32 log-softmax output (saved), the fp32
          gradient coming in and the one going out are alive together, 4 bytes each
CUDA context  --cuda-context-gib (default 0.75 GiB; 0.5 to 1 GiB depending on GPU and CUDA)
preference (--objective): dpo/orpo run chosen + rejected as 2b sequences (activations, logits x2);
          a full dpo/kto run adds a frozen reference, P * w (no grads or optimizer states); with
          LoRA the reference is the base with adapters off; orpo has none. Reference and KL forwards
          run without gradients: nothing of them is kept for backward.
Not counted: allocator fragmentation, kernel workspaces, evaluation. 1 GiB = 2**30 bytes.
"""
from __future__ import annotations

import argparse
import json

from prep.core.errors import StageError
from train.lm import lora
from train.tools.params import block_linears, counts, lora_params, read_config, shape_of
from train.tools.params import lora_targets as target_names

GIB = 2 ** 30
NF4_DOUBLE_QUANT_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
PRECISION_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw-8bit": 2, "paged-adamw-8bit": 2, "paged-adamw-32bit": 8, "sgd": 0}
# HF TrainingArguments spellings of the same optimizers.
OPTIMIZER_ALIASES = {"adamw-torch": "adamw", "adamw-torch-fused": "adamw", "adamw-hf": "adamw",
                     "adamw-bnb-8bit": "adamw-8bit"}
ATTENTION_SCORES = {"sdpa": False, "eager": True}
ADAPTER_BYTES = 4
# Linear layers that read the same tensor as the one listed before them (q/k/v, gate/up): a
# full run's weight gradients keep that input once.
SHARES_INPUT = {"k_proj", "v_proj", "up_proj", "key", "value"}
OBJECTIVES = ("sft", "dpo", "orpo", "kto")
PAIRED = {"dpo", "orpo"}            # chosen and rejected in one forward: 2x the sequences
WITH_REFERENCE = {"dpo", "kto"}     # a reference model; a separate copy only in a full run
LOGITS_BYTES = 12  # per token and vocabulary entry: fp32 log-softmax output, gradient in, gradient out


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
    parser.add_argument("--objective", choices=OBJECTIVES, default="sft",
                        help="the runner's --method: sft, or preference tuning (dpo/orpo: pairs double the "
                        "sequences; dpo/kto full: + a frozen reference model)")
    parser.add_argument("--seq-len", "--seq_len", "--max-length", dest="seq_len", type=int, required=True,
                        help="tokens per sequence")
    parser.add_argument("--batch-size", "--batch_size", "--per_device_train_batch_size", dest="batch_size",
                        type=int, required=True, help="sequences per step on one GPU")
    parser.add_argument("--gradient-checkpointing", "--gradient_checkpointing", dest="checkpointing",
                        action="store_true", help="keep only each layer's input and recompute the rest")
    parser.add_argument("--lora-rank", "--lora_rank", "--lora_r", dest="lora_rank", type=int, default=lora.RANK,
                        help="LoRA rank r (lora and qlora); the default is train.hf_trainer's")
    parser.add_argument("--lora-targets", "--lora_target_modules", dest="lora_targets", default=None,
                        help="comma list of module leaf names, or all-linear; default: PEFT's choice for the "
                        "architecture, as train.hf_trainer makes it")
    parser.add_argument("--lora-dropout", "--lora_dropout", dest="lora_dropout", type=float,
                        default=lora.DROPOUT, help="LoRA dropout (the default is train.hf_trainer's; "
                        "train.qlora's is 0); above 0 each target keeps a 1-byte mask of its input")
    parser.add_argument("--use-dora", "--use_dora", dest="use_dora", action="store_true",
                        help="DoRA: + one trained magnitude per output feature of each adapted layer")
    parser.add_argument("--use-rslora", "--use_rslora", dest="use_rslora", action="store_true",
                        help="rank-stabilized LoRA: only the scaling changes (alpha / sqrt(r)), not the memory")
    parser.add_argument("--optimizer", "--optim", dest="optimizer", type=optimizer_name, default="adamw",
                        help=f"one of {', '.join(OPTIMIZER_STATE_BYTES)} (HF spellings accepted)")
    parser.add_argument("--precision", choices=tuple(PRECISION_BYTES), default="bf16",
                        help="training precision of weights and activations")
    parser.add_argument("--attention", choices=tuple(ATTENTION_SCORES), default="sdpa",
                        help="sdpa/flash never stores attention scores; eager stores a*s*s per layer")
    parser.add_argument("--cuda-context-gib", type=float, default=0.75, help="CUDA context and allocator overhead")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")


def widths(method: str, w: int) -> dict:
    """Bytes per element: c matmuls under autocast, o linear outputs, r the residual stream."""
    fp32_stream = 4 if method == "qlora" else w  # QLoRA: fp32 embeddings make the stream fp32
    return {"c": w, "o": fp32_stream, "r": fp32_stream}


def linear_input_bytes(s, method: str, targets: str, rank: int, dropout: float, c: int, dora: bool = False,
                       o: int = 2) -> float:
    """Per token and layer: what the block linears keep of their inputs for backward."""
    linears = block_linears(s)
    if method == "full":
        return c * sum(n_in for name, n_in, _, _ in linears if name not in SHARES_INPUT)
    wanted = target_names(s, targets)
    mask = 1 if dropout > 0 else 0
    extra = (o + c) if dora else 0  # DoRA: the base output (o) and the adapter output (c), per out feature
    return sum(c * (n_in + rank) + mask * n_in + extra * n_out for name, n_in, n_out, _ in linears
               if name in wanted)


def layer_bytes(s, method: str, seq: int, targets: str, rank: int, dropout: float, scores: bool,
                w: int, dora: bool = False) -> float:
    """Bytes one layer keeps for backward per token (see the module docstring)."""
    x = widths(method, w)
    c, o, h, i = x["c"], x["o"], s.hidden, s.intermediate
    norm = 4 * h if not s.layer_norm else x["r"] * h
    norms = 2 * (norm + (c * h if method == "full" else 0))
    mlp = 3 * o * i if s.layout == "decoder" else o * i
    q, k = s.heads * s.head_dim, s.kv_heads * s.head_dim
    attention = c * (2 * q + 2 * k) + 4 * s.heads + ((4 + c) * s.heads * seq if scores else 0)
    return norms + mlp + attention + linear_input_bytes(s, method, targets, rank, dropout, c, dora, o)


def activation_bytes(s, method: str, seq: int, batch: int, checkpointing: bool, targets: str | None = None,
                     rank: int = lora.RANK, dropout: float = lora.DROPOUT, scores: bool = False,
                     w: int = 2, dora: bool = False) -> float:
    """All layers' saved tensors at the loss backward; with checkpointing, the layer inputs."""
    tokens, h, x = seq * batch, s.hidden, widths(method, w)
    outside = (4 * h if not s.layer_norm else x["r"] * h) + (x["c"] * h if method == "full" else 0)
    per_layer = layer_bytes(s, method, seq, targets, rank, dropout, scores, w, dora)
    if not checkpointing:
        return tokens * (s.layers * per_layer + outside)
    recomputed = max(0.0, per_layer - LOGITS_BYTES * s.vocab)  # only by what it exceeds the loss peak
    return tokens * (s.layers * x["r"] * h + outside + recomputed)


def estimate(config: dict, method: str, seq_len: int, batch_size: int, checkpointing: bool = False,
             lora_rank: int = lora.RANK, lora_targets: str | None = None, optimizer: str = "adamw",
             precision: str = "bf16", attention: str = "sdpa", cuda_context_gib: float = 0.75,
             lora_dropout: float = lora.DROPOUT, use_dora: bool = False, use_rslora: bool = False,
             objective: str = "sft") -> dict:
    """Bytes per part and the counts behind them."""
    if seq_len <= 0 or batch_size <= 0 or lora_rank <= 0:
        raise StageError("--seq-len, --batch-size and --lora-rank must be positive")
    if not 0 <= lora_dropout < 1:
        raise StageError(f"--lora-dropout must be in [0, 1), got {lora_dropout}")
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
        trainable = lora_params(s, lora_targets, lora_rank, use_dora)
        # QLoRA: what is not quantized is fp32, and autocast keeps a w-byte copy of the LM head
        base = total * w if method == "lora" else n["block_linear"] * NF4_DOUBLE_QUANT_BYTES + \
            (total - n["block_linear"]) * 4 + s.vocab * s.hidden * w
        weights = base + trainable * ADAPTER_BYTES
        grads, opt = trainable * ADAPTER_BYTES, trainable * state
    sequences = batch_size * (2 if objective in PAIRED else 1)
    parts = {
        "weights": weights, "gradients": grads, "optimizer states": opt,
        "reference model": total * w if objective in WITH_REFERENCE and method == "full" else 0,
        "activations": activation_bytes(s, method, seq_len, sequences, checkpointing, lora_targets,
                                        lora_rank, lora_dropout, ATTENTION_SCORES[attention], w, use_dora),
        "logits": seq_len * sequences * s.vocab * LOGITS_BYTES,
        "CUDA context": cuda_context_gib * GIB,
    }
    return {
        "method": method, "objective": objective, "params": total, "trainable": trainable, "layout": s.layout,
        "shape": {k: getattr(s, k) for k in ("hidden", "layers", "heads", "kv_heads", "head_dim",
                                             "intermediate", "vocab", "tied")},
        "options": {"seq_len": seq_len, "batch_size": batch_size, "gradient_checkpointing": checkpointing,
                    "lora_rank": lora_rank if method != "full" else None,
                    "lora_dropout": lora_dropout if method != "full" else None,
                    "use_dora": use_dora if method != "full" else None,
                    "use_rslora": use_rslora if method != "full" else None,
                    "lora_targets": (lora_targets or f"PEFT default ({','.join(sorted(target_names(s, None)))})")
                    if method != "full" else None,
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
        + (f", rank {opts['lora_rank']} on {opts['lora_targets']}" + ", DoRA" * bool(opts["use_dora"])
           + ", rsLoRA" * bool(opts["use_rslora"]) + ")" if opts["lora_rank"] else ")"),
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
                      args.cuda_context_gib, args.lora_dropout, args.use_dora, args.use_rslora, args.objective)
    print(json.dumps(result, indent=1) if args.json else table(result, args.model))
    return 0
