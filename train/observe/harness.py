"""Score a model, or a model plus a LoRA adapter, on lm-evaluation-harness tasks, offline.

  tunesmith eval --model M [--adapter RUN_DIR] --tasks hellaswag,arc_easy [--include_path DIR]
                 [--limit N] [--output FILE]

Runs lm_eval.simple_evaluate on lm-eval's HFLM (the adapter goes through its peft= option),
with the hub and datasets libraries offline: a task whose data is not already in the local cache
fails instead of downloading. --include_path adds a folder of task YAML files of your own (a
local JSON file as the data, e.g. tests/data/eval/). Writes the harness's results JSON and prints
its table. Needs the optional extra: pip install tunesmith[eval].
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
from pathlib import Path

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError

RESULTS_FILE = "eval_results.json"
OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--model_name_or_path", dest="model", required=True,
                        help="model folder (or a hub id already in the local cache)")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder (adapter_config.json) applied "
                        "on top of --model, e.g. a LoRA run's --output_dir")
    parser.add_argument("--tasks", required=True, help="comma-separated lm-eval task (or group) names")
    parser.add_argument("--include_path", "--include-path", default=None, metavar="DIR",
                        help="a folder of extra task YAML files")
    parser.add_argument("--limit", type=float, default=None, help="score only the first N documents of "
                        "each task (a fraction when below 1); for quick checks, not for reporting")
    parser.add_argument("--num_fewshot", "--num-fewshot", type=int, default=None,
                        help="examples in each prompt (default: each task's own)")
    parser.add_argument("--batch_size", "--batch-size", default="1", help="documents per forward pass, or auto")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu... (default: cuda when available)")
    parser.add_argument("--log_samples", "--log-samples", action="store_true",
                        help="also write each document's prompt, choices and scores into the results JSON")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help=f"results JSON (default: {RESULTS_FILE} in the adapter's folder, else the "
                        "model's folder, else the current folder)")


def _lm_eval():
    """lm_eval's modules, offline; a one-line error where the optional extra is missing."""
    for name in OFFLINE:  # before the hub and datasets libraries are imported: they read these once
        os.environ[name] = "1"
    try:
        # lm_eval: an optional extra, imported here only
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
        from lm_eval.utils import handle_non_serializable
    except ImportError as exc:
        raise StageError(f"`tunesmith eval` needs lm-evaluation-harness ({exc}): pip install "
                         "tunesmith[eval]") from None
    return lm_eval, HFLM, TaskManager, handle_non_serializable


def task_manager(TaskManager, tasks: list[str], include_path: str | None):
    """The tasks' manager: only the folder's tasks where they are all there (indexing lm-eval's
    own few thousand task files takes seconds), else lm-eval's too. Unknown names are an error."""
    if include_path is not None and not Path(include_path).is_dir():
        raise StageError(f"--include_path {include_path}: no such folder")
    manager = None
    if include_path is not None:
        manager = TaskManager(verbosity="ERROR", include_path=include_path, include_defaults=False)
    if manager is None or any(t not in manager.all_tasks for t in tasks):
        manager = TaskManager(verbosity="ERROR", include_path=include_path)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        near = sorted({m for t in unknown for m in difflib.get_close_matches(t, manager.all_tasks, n=3)})
        raise StageError(f"unknown task {', '.join(unknown)}: {len(manager.all_tasks)} tasks are known"
                         + (f"; close: {', '.join(near)}" if near else "")
                         + ("" if include_path else "; a task file of your own goes in --include_path DIR"))
    return manager


def table(results: dict) -> str:
    """Task, metric, value and standard error, one row per metric. Written here: lm-eval's own
    make_table comes out with letters for headers under the pytablewriter release installed."""
    rows = [("task", "metric", "value", "stderr", "docs")]
    for task, metrics in results.get("results", {}).items():
        docs = results.get("n-samples", {}).get(task, {}).get("effective", "")
        for key, value in sorted(metrics.items()):
            name, comma, filter_name = key.partition(",")  # "acc,none": metric and filter; others are counts
            if not comma or name.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            err = metrics.get(f"{name}_stderr,{filter_name}")
            rows.append((task, name, f"{value:.4f}", f"{err:.4f}" if isinstance(err, float) else "n/a", str(docs)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def default_output(args) -> Path:
    folder = next((Path(p) for p in (args.adapter, args.model) if p and Path(p).is_dir()), Path("."))
    return folder / RESULTS_FILE


def _model(HFLM, args, device: str):
    if args.adapter and not (Path(args.adapter) / "adapter_config.json").is_file():
        raise StageError(f"--adapter {args.adapter}: no adapter_config.json there")
    # The adapter's folder holds the tokenizer it was trained with (added tokens included).
    tokenizer = args.adapter if args.adapter and (Path(args.adapter) / "tokenizer_config.json").is_file() \
        else args.model
    try:
        return HFLM(pretrained=args.model, peft=args.adapter, tokenizer=tokenizer, device=device,
                    batch_size=args.batch_size, dtype="auto")
    except OSError as exc:
        raise StageError(f"cannot load {args.model!r}: {str(exc).splitlines()[0]}") from None


def run(args: argparse.Namespace) -> int:
    lm_eval, HFLM, TaskManager, serializable = _lm_eval()
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise StageError("--tasks: no task names given")
    manager = task_manager(TaskManager, tasks, args.include_path)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    results = lm_eval.simple_evaluate(model=_model(HFLM, args, device), tasks=tasks, limit=args.limit,
                                      num_fewshot=args.num_fewshot, task_manager=manager, log_samples=args.log_samples,
                                      verbosity="ERROR")
    if not results:  # simple_evaluate answers None on the processes other than the main one
        return 0
    results["tunesmith"] = {"model": args.model, "adapter": args.adapter, "tasks": tasks, "limit": args.limit}
    output = Path(args.output) if args.output else default_output(args)
    output.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(output) as out:
        out.handle.write(json.dumps(results, indent=2, default=serializable, sort_keys=True) + "\n")
    print(table(results))
    print(f"results: {output}")
    return 0
