"""Compare the closed-form head with traditional training on the same frozen embeddings.

TRAIN and EVAL are embedded once (cached, as in `single-pass fit`). Then, one row each:
the closed-form heads (ridge, gd-equivalent, batch-aware), a linear head trained with
AdamW and cross-entropy for --epochs at --batch_size and --learning_rate, and with
--finetune-encoder a full fine-tune of the encoder with a classification head. Each row
gives the embedding seconds, the fit/training seconds, the peak memory above the start of
the fit (CUDA max_memory_allocated on a GPU, sampled RSS on the CPU: the `memory` column
says which), and accuracy and macro-F1 on EVAL (RMSE and R^2 for regression). The table is
printed and written to OUTPUT_DIR/compare.md and compare.json (default runs/compare).
Before each timed fit the method runs once on a few rows, so that lazy imports and the
optimizer's one-off set-up are not counted as its cost.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import add_quiet
from prep.core.stage import Stage, options_of
from train.heads import baselines as traditional
from train.heads import head as single_pass
from train.heads import labelled
from train.heads.cli import (
    add_data_flags,
    add_embedding_flags,
    add_head_flags,
    embed,
    encoder_config,
    head_options,
    source_files,
)
from train.heads.metrics import PeakMemory, evaluate
from train.heads.targets import decode, encode_targets

CLOSED_FORM = ("ridge", "gd-equivalent", "batch-aware")
MIB = 1 << 20
# Rows of the throwaway run before each timed one: lazy imports and one-off set-up (the
# optimizer's first step costs seconds on a cold process) are not part of a method's cost.
WARMUP_ROWS = 16


def add_arguments(parser) -> None:
    add_data_flags(parser, eval_required=True)
    add_embedding_flags(parser)
    add_head_flags(parser, with_method=False)
    parser.add_argument("--weight-decay", "--weight_decay", dest="weight_decay", type=float, default=0.01,
                        help="AdamW weight decay of the traditional linear head")
    parser.add_argument("--finetune-encoder", dest="finetune", action="store_true",
                        help="also fine-tune the whole encoder with a classification head (slow on CPU)")
    parser.add_argument("--finetune-epochs", dest="finetune_epochs", type=int, default=5,
                        help="epochs of the encoder fine-tune")
    parser.add_argument("--finetune-learning-rate", dest="finetune_learning_rate", type=float, default=1e-4,
                        help="AdamW learning rate of the encoder fine-tune")
    parser.add_argument("--output-dir", "--output_dir", dest="output_dir", type=Path, default=Path("runs/compare"),
                        help="folder for compare.json and compare.md (plus stats and rejects)")
    add_quiet(parser)


def _measure(fn, device: str):
    """(result, seconds, peak bytes, meter kind) of ``fn()``."""
    with PeakMemory(device) as meter:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return result, seconds, meter.peak, meter.kind


def _row(method: str, family: str, embed_s, fit_s, peak, kind, scores: dict, **details) -> dict:
    return {"method": method, "family": family, "embed_seconds": embed_s, "fit_seconds": round(fit_s, 4),
            "peak_memory_mib": round(peak / MIB, 2), "memory": kind,
            **{k: round(v, 4) for k, v in scores.items()}, "details": details}


def _warm_up(fn, labels: list) -> None:
    """Run ``fn(n)`` on the first rows, enough to hold two labels.

    A setup error on so few rows (batch-aware's b is 0 when n < batch_size) is left for the
    timed run to raise, where it applies to the real data or not at all.
    """
    n = WARMUP_ROWS
    while n < len(labels) and len(set(labels[:n])) < 2:
        n *= 2
    try:
        fn(min(n, len(labels)))
    except StageError:
        pass


def closed_form_rows(args, x, labels, x_eval, gold, embed_s) -> list[dict]:
    rows = []
    for method in CLOSED_FORM:
        opts = head_options(args, method)
        _warm_up(lambda n, o=opts: single_pass.fit_head(x[:n], labels[:n], o), labels)
        head, seconds, peak, kind = _measure(lambda o=opts: single_pass.fit_head(x, labels, o), "cpu")
        predicted, _ = single_pass.predict(head, x_eval)
        details = {k: head.config[k] for k in ("solver", "lambda", "steps", "b") if k in head.config}
        rows.append(_row(method, "closed form", embed_s, seconds, peak, kind,
                         evaluate(gold, predicted, head.config["task"]), **details))
    return rows


def traditional_row(args, x, labels, x_eval, gold, embed_s, device) -> dict:
    y, classes, task = encode_targets(labels, args.task)
    targets = y[:, 0] if task == "regression" else y.argmax(axis=1)
    _warm_up(lambda n: traditional.train_linear_head(x[:n], targets[:n], task, 1, args.batch_size,
                                                     args.learning_rate, args.weight_decay, args.seed, device),
             labels)
    model, seconds, peak, kind = _measure(lambda: traditional.train_linear_head(
        x, targets, task, args.epochs, args.batch_size, args.learning_rate, args.weight_decay, args.seed,
        device), device)
    predicted, _ = decode(model(x_eval), classes, task)
    return _row("linear head + AdamW", "gradient descent", embed_s, seconds, peak, kind,
                evaluate(gold, predicted, task), epochs=args.epochs, batch_size=args.batch_size,
                learning_rate=args.learning_rate)


def finetune_row(args, train, held, device) -> dict:
    # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
    from prep.embed import resolve_encoder
    y, classes, task = encode_targets(train.labels, "classification")
    logits, seconds, peak, kind = _measure(lambda: traditional.finetune_encoder(
        resolve_encoder(args.encoder), train.texts, list(y.argmax(axis=1)), held.texts, args.finetune_epochs,
        args.batch_size, args.finetune_learning_rate, args.max_length, args.seed, device), device)
    predicted, _ = decode(logits, classes, task)
    return _row("fine-tuned encoder", "fine-tune", None, seconds, peak, kind, evaluate(held.labels, predicted, task),
                epochs=args.finetune_epochs, batch_size=args.batch_size, learning_rate=args.finetune_learning_rate)


def markdown(report: dict) -> str:
    rows = report["rows"]
    metric_keys = [k for k in ("accuracy", "macro_f1", "rmse", "r2") if k in rows[0]]
    head = ["method", "family", "embed s", "fit s", "peak MiB", *metric_keys]
    lines = [f"# compare: {report['train']['examples']} train / {report['eval']['examples']} eval examples",
             "", f"encoder `{report['encoder']['name']}` ({report['encoder']['pooling']} pooling), "
             f"device {report['device']}; peak memory: "
             + "; ".join(sorted({r["memory"] for r in rows})) + ". Embedding seconds are this run's "
             "(a cache hit only reads the .npy file).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        embed_s = "-" if r["embed_seconds"] is None else f"{r['embed_seconds']:.2f}"
        cells = [r["method"], r["family"], embed_s, f"{r['fit_seconds']:.4f}", f"{r['peak_memory_mib']:.1f}",
                 *[f"{r[k]:.4f}" for k in metric_keys]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
    from prep.embed import default_device
    device = args.device or default_device()
    outputs = {"json": args.output_dir / "compare.json", "md": args.output_dir / "compare.md"}
    inputs = source_files(args.train, args.train_labels) + source_files(args.eval, args.eval_labels)
    with Stage("compare", outputs, options_of(args), inputs, args.quiet) as stage:
        train = labelled.read_labelled(args.train, stage, "TRAIN", args.text_key, args.label_key, args.train_labels)
        held = labelled.read_labelled(args.eval, stage, "EVAL", args.text_key, args.label_key, args.eval_labels)
        task = encode_targets(train.labels, args.task)[2]  # label errors stop here, before embedding
        if args.finetune and task == "regression":
            raise StageError("--finetune-encoder trains a classifier; these labels make a regression task")
        encoder = encoder_config(args)
        start = time.perf_counter()
        x, x_eval = embed(encoder, args, train.texts), embed(encoder, args, held.texts)
        embed_s = round(time.perf_counter() - start, 3)
        rows = closed_form_rows(args, x, train.labels, x_eval, held.labels, embed_s)
        rows.append(traditional_row(args, x, train.labels, x_eval, held.labels, embed_s, device))
        if args.finetune:
            rows.append(finetune_row(args, train, held, device))
        report = {"train": {"examples": len(train.texts)}, "eval": {"examples": len(held.texts)},
                  "encoder": encoder, "device": device, "rows": rows}
        table = markdown(report)
        stage.handle("json").write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        stage.handle("md").write(table)
    print(table, end="")
    return 0
