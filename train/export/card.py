"""Write a model card (README.md) for a training run: base model, data, method, curves, evals.

The card is made from the run folder alone (see provenance.py for what is read): the base model,
the data with each prep stage's read/kept/dropped counts back to the raw sources, the method and
its hyperparameters from run_config.yaml, the loss curves' diagnosis and, when an eval results
JSON is present (or passed with --eval), its scores. `export gguf` writes the same card beside
the .gguf file, with the export's round-trip figures. Written atomically.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from prep.core.atomic import AtomicFile
from prep.core.errors import StageError
from train.export import provenance

# The flags a reader needs to reproduce or judge a run, in the order the card lists them.
HYPERPARAMETERS = (
    "learning_rate", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "packing", "optim",
    "weight_decay", "max_grad_norm", "bf16", "fp16", "bits", "quant_type", "lora_rank", "lora_alpha",
    "lora_dropout", "lora_target_modules", "use_dora", "use_rslora", "seed",
)
# Preference tuning's own flags (run_config.yaml's "method" is the objective: sft, dpo, orpo, kto).
PREFERENCE = ("beta", "loss_type", "desirable_weight", "undesirable_weight")
LORA_ONLY = {"lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules", "use_dora", "use_rslora"}
QUANTIZED_ONLY = {"quant_type"}  # meaningless on a 16-bit base


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="the training run's output_dir (holds run_config.yaml)")
    parser.add_argument("--output", type=Path, help="where to write the card (default: RUN/README.md)")
    parser.add_argument("--eval", type=Path, dest="eval_file",
                        help="an eval results JSON (lm-eval's, with a 'results' key; default: eval*.json or "
                             "results*.json in the run folder)")


def method_of(facts: dict) -> str:
    record, config = facts["record"], facts["config"]
    if record.get("method"):
        return str(record["method"])
    if config.get("use_lora") or facts["adapter"]:
        return "qlora" if config.get("bits") in (4, 8) else "lora"
    return "full" if config else "unknown"


def data_section(facts: dict) -> list[str]:
    lines = ["## Data", ""]
    if not facts["data"]:
        return lines + ["run_config.yaml names no train or eval file.", ""]
    shown: set[str] = set()  # stages shared by the train and eval files are listed once
    for key, entry in facts["data"].items():
        lines.append(f"**{key}**: `{entry['path']}`")
        stages = [s for s in entry["stages"] if s["stats"] not in shown]
        if not entry["stages"]:
            lines += ["", "No prep stats file was found for it.", ""]
            continue
        if len(stages) < len(entry["stages"]):
            lines += ["", f"From the same stages as above up to {entry['stages'][-len(stages) - 1]['stage']}, then:"]
        lines += ["", "| stage | output | read | kept | dropped | errors |", "|---|---|---|---|---|---|"]
        for stage in stages:
            shown.add(stage["stats"])
            dropped = ", ".join(f"{reason} {n}" for reason, n in stage["dropped"].items()) or "0"
            mark = " (input changed since)" if stage["changed"] else ""
            tokens = f" ({stage['tokens']} tokens)" if stage["tokens"] else ""
            lines.append(f"| {stage['stage']} | {stage['output']}{mark} | {stage['read']} | "
                         f"{stage['kept']}{tokens} | {dropped} | {stage['errors']} |")
        lines.append("")
    return lines


def method_section(facts: dict) -> list[str]:
    config, record, method = facts["config"], facts["record"], method_of(facts)
    lines = ["## Method", "", f"- method: {method}"]
    objective = config.get("method")
    if objective and objective != "sft":
        lines.append(f"- objective: {objective}")
        lines += [f"- {name}: {config[name]}" for name in PREFERENCE if config.get(name) is not None]
    if record.get("global_step") is not None:
        lines.append(f"- steps trained: {record['global_step']}")
    metrics = record.get("metrics") or {}
    if isinstance(metrics.get("train_loss"), (int, float)):
        lines.append(f"- mean train loss: {metrics['train_loss']:.4f}")
    for name in HYPERPARAMETERS:
        if name in LORA_ONLY and method == "full" or name in QUANTIZED_ONLY and config.get("bits") not in (4, 8):
            continue
        if config.get(name) is not None:
            lines.append(f"- {name}: {config[name]}")
    return lines + ["", f"All flags: `{Path(facts['run_dir']) / 'run_config.yaml'}` (rerun with `--config` on it).", ""]


def results_section(facts: dict, export: dict | None) -> list[str]:
    diagnosis = facts["diagnosis"]
    lines = ["## Training curves", "", diagnosis["message"] if diagnosis else "No log history was found.", ""]
    if facts["eval"]:
        path, results = facts["eval"]
        lines += ["## Evaluation", "", f"From `{path}`:", "", "| task | metric | value |", "|---|---|---|"]
        lines += [f"| {task} | {metric} | {value:.4g} |" for task, metrics in results.items()
                  for metric, value in metrics.items()]
        lines.append("")
    if export:
        lines += ["## GGUF export", "", f"- file: `{export['file']}` ({export['outtype']}, "
                  f"{export['bytes'] / 1e6:.1f} MB), from `{export['source']}`",
                  f"- converted by {export['converter']}"]
        check = export.get("check")
        if check:
            lines.append(f"- round trip (transformers reads the GGUF back, {check['prompts']} prompts, "
                         f"{check['positions']} positions): max |logit diff| {check['max_abs_diff']:.3g} "
                         f"({check['rel_diff']:.3g} x the logits' std), top-1 agreement {check['argmax_agree']:.1%}")
        else:
            lines.append("- round trip: not checked")
        lines.append("")
    return lines


def render(facts: dict, export: dict | None = None) -> str:
    base = facts["base"] or "unknown"
    front = {"base_model": base, "library_name": "peft" if facts["adapter"] and not export else "transformers",
             "tags": ["tunesmith", method_of(facts)] + [o for o in [facts["config"].get("method")] if o and o != "sft"]
             + (["gguf"] if export else [])}
    title = Path(facts["run_dir"]).name if facts["config"] else (export or {}).get("file", "model")
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {title}", "",
             f"Fine-tuned from `{base}`.", ""]
    lines += data_section(facts) + method_section(facts) + results_section(facts, export)
    return "\n".join(lines).rstrip() + "\n"


def write(folder: Path, run_dir: Path | None, export: dict | None = None, eval_file: Path | None = None,
          output: Path | None = None, record: dict | None = None) -> Path:
    """Render the card for run_dir (None: export facts only) and write it atomically; returns its path.
    ``record``: fields that win over the run's tunesmith-run.json (a run still writing it)."""
    facts = provenance.run_facts(run_dir, eval_file) if run_dir is not None else \
        {"run_dir": "", "config": {}, "record": {}, "adapter": None, "base": (export or {}).get("base"), "data": {},
         "diagnosis": None, "eval": None}
    facts["record"] = {**facts["record"], **(record or {})}
    path = output or folder / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(path, "w") as out:
        out.handle.write(render(facts, export))
    return path


def write_for_trainer(trainer) -> Path:
    """The card at a run's end, replacing the library's: the steps and mean loss come from the
    trainer's state, as the runner's final record is written after it."""
    run_dir = Path(trainer.args.output_dir)
    losses = [e["train_loss"] for e in trainer.state.log_history if "train_loss" in e]
    return write(run_dir, run_dir, record={"global_step": trainer.state.global_step,
                                           "metrics": {"train_loss": losses[-1]} if losses else {}})


def run(args: argparse.Namespace) -> int:
    if not (args.run / "run_config.yaml").is_file():
        present = ", ".join(sorted(p.name for p in args.run.iterdir())[:15]) if args.run.is_dir() else "no such folder"
        raise StageError(f"{args.run} has no run_config.yaml, so it is not a training run's output_dir ({present})")
    if args.eval_file is not None and provenance.eval_results(args.run, args.eval_file) is None:
        raise StageError(f"--eval {args.eval_file}: not a results JSON with a non-empty 'results' mapping")
    print(f"wrote {write(args.run, args.run, eval_file=args.eval_file, output=args.output)}")
    return 0
