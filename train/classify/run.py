"""--task seq-cls: fine-tune an encoder or decoder with a classification head, or train ours from scratch.

    python -m train.hf_trainer --task seq-cls --model_name_or_path scratch-small \\
        --data_dir data/labelled --output_dir data/models/classifier [switches]

or from Python, with a module or dataclass whose attributes are the flags (the seed's
spellings such as EPOCHS, BATCH_SIZE, MODEL_NAME are accepted too):

    from train import train_model
    metrics = train_model(config)

--model_name_or_path is a transformers model (folder or hub id; its sequence classification
class is loaded) or ``scratch`` / ``scratch-tiny`` / ``scratch-small`` / ``scratch-base`` for
the encoder in train/classify/scratch_encoder.py with random weights. OUTPUT_DIR gets the model, the
tokenizer, labels.json, metrics.json and predictions.jsonl (with its stats and rejects).

The --task seq-cls run: switches checked, splits read, model trained with the HF Trainer, files written.

OUTPUT_DIR gets predictions.jsonl (one line per evaluation example: id, label, predicted),
with predictions.stats.json and predictions.rejected.jsonl beside it (every line read is
counted; unusable ones are rejected with file:line), metrics.json, labels.json (id -> class),
the model and the tokenizer. The small files are written atomically, the main one last.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments, set_seed

from prep.core.errors import StageError, exit_code
from prep.core.records import dumps
from prep.core.stage import Stage
from prep.embed import resolve_encoder
from train.classify.config import ClassifierConfig, config_from
from train.classify.data import ByteTokenizer, ClassCollator, examples, label_map, split_files
from train.classify.model import build_model, load_tokenizer, model_class
from train.classify.scratch_encoder import EncoderClassifier
from train.heads import labelled
from train.heads.cli import source_files
from train.heads.metrics import evaluate
from train.lm.runner import trainer_class
from train.lm.switches import check_switches

METRICS_FILE = "metrics.json"
LABELS_FILE = "labels.json"
PREDICTIONS_FILE = "predictions.jsonl"


def training_arguments(cfg, device: str, has_eval: bool):
    return TrainingArguments(
        output_dir=cfg.output_dir, num_train_epochs=cfg.num_train_epochs,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size, learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio, lr_scheduler_type="linear",
        eval_strategy="epoch" if has_eval else "no", save_strategy="no", logging_steps=cfg.logging_steps,
        report_to="none", disable_tqdm=cfg.quiet, use_cpu=device == "cpu", bf16=cfg.bf16, fp16=cfg.fp16,
        torch_compile=cfg.torch_compile, activation_checkpointing=cfg.gradient_checkpointing,
        use_liger_kernel=cfg.use_liger, remove_unused_columns=False, seed=cfg.seed, data_seed=cfg.seed)


def compute_metrics(prediction) -> dict:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return evaluate(list(prediction.label_ids), list(logits.argmax(-1)), "classification")


def make_trainer(cfg, model, tokenizer, train_examples, eval_examples, device: str):
    collator = ClassCollator(tokenizer.pad_token_id, pad_to=cfg.max_length if cfg.pad_to_max_length else None)
    lengths = [e["length"] for e in train_examples] if cfg.group_by_length else None
    return trainer_class()(
        model=model, args=training_arguments(cfg, device, bool(eval_examples)), train_dataset=train_examples,
        eval_dataset=eval_examples or None, data_collator=collator, group_lengths=lengths,
        processing_class=None if isinstance(tokenizer, ByteTokenizer) else tokenizer,
        compute_metrics=compute_metrics)


def save(trainer, model, tokenizer, output_dir: str) -> None:
    if isinstance(model, EncoderClassifier):
        model.save(output_dir)
        tokenizer.save_pretrained(output_dir)
    else:
        trainer.save_model(output_dir)  # the model and, beside it, the tokenizer


def evaluate_held(trainer, eval_examples: list[dict], held, classes: list, stage: Stage) -> dict:
    """Scores on the evaluation split; one prediction line per example."""
    output = trainer.predict(eval_examples)
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    predicted = [classes[i] for i in logits.argmax(-1).tolist()]
    for record, gold, guess in zip(held.records, held.labels, predicted):
        stage.handle("predictions").write(dumps({"id": record.get("id"), "label": gold, "predicted": guess}))
    scores = evaluate(held.labels, predicted, "classification")
    return {**scores, "eval_loss": output.metrics.get("test_loss")}


def run(cfg) -> dict:
    """Train the classifier ``cfg`` (a ClassifierConfig) describes; returns its metrics."""
    cfg = dataclasses.replace(cfg, model_name_or_path=resolve_encoder(cfg.model_name_or_path))  # minilm -> folder
    mclass = model_class(cfg)
    switches = check_switches(attn_implementation=cfg.attn_implementation, bf16=cfg.bf16, fp16=cfg.fp16,
                              torch_compile=cfg.torch_compile, use_liger=cfg.use_liger, task="seq-cls",
                              model_class=mclass, use_cpu=cfg.use_cpu, quiet=cfg.quiet)
    if cfg.use_liger and mclass is None:
        raise StageError("--use_liger patches transformers models; the scratch encoder has no Liger kernels")
    train_spec, eval_spec = split_files(cfg.data_dir, cfg.train_file, cfg.eval_file)
    out = Path(cfg.output_dir)
    outputs = {"predictions": out / PREDICTIONS_FILE, "metrics": out / METRICS_FILE, "labels": out / LABELS_FILE}
    inputs = source_files(train_spec) + (source_files(eval_spec) if eval_spec else [])
    with Stage("seq-cls", outputs, dataclasses.asdict(cfg), inputs, cfg.quiet) as stage:
        train = labelled.read_labelled(train_spec, stage, "TRAIN", cfg.text_key, cfg.label_key)
        held = labelled.read_labelled(eval_spec, stage, "EVAL", cfg.text_key, cfg.label_key) if eval_spec else None
        classes = label_map(train.labels)
        tokenizer = load_tokenizer(cfg)
        set_seed(cfg.seed)
        model = build_model(cfg, classes, tokenizer, switches.attn_implementation)
        train_examples = examples(tokenizer, train, classes, cfg.max_length, "TRAIN")
        eval_examples = examples(tokenizer, held, classes, cfg.max_length, "EVAL") if held else []
        trainer = make_trainer(cfg, model, tokenizer, train_examples, eval_examples, switches.device)
        result = trainer.train()
        metrics = {"train_loss": result.training_loss, "train_examples": len(train_examples),
                   "eval_examples": len(eval_examples), "epochs": cfg.num_train_epochs,
                   "train_samples_per_second": result.metrics.get("train_samples_per_second"),
                   "attn_implementation": switches.attn_implementation, "device": switches.device}
        if eval_examples:
            metrics.update(evaluate_held(trainer, eval_examples, held, classes, stage))
        save(trainer, model, tokenizer, cfg.output_dir)
        stage.handle("metrics").write(json.dumps(metrics, indent=2) + "\n")
        stage.handle("labels").write(json.dumps({i: c for i, c in enumerate(classes)}, indent=2) + "\n")
        stage.extra.update(metrics=metrics)
    return metrics


def train_model(config) -> dict:
    """Train as ``config`` says; returns the evaluation metrics (accuracy, macro_f1, loss...)."""
    return run(config_from(config))


def split_task(argv: list[str]) -> tuple[str, list[str]]:
    """(the --task value, argv without it where it is seq-cls); causal-lm argv is left whole."""
    for i, arg in enumerate(argv):
        if arg == "--task" and i + 1 < len(argv):
            task, rest = argv[i + 1], argv[:i] + argv[i + 2:]
        elif arg.startswith("--task="):
            task, rest = arg.split("=", 1)[1], argv[:i] + argv[i + 1:]
        else:
            continue
        return (task, rest) if task == "seq-cls" else (task, argv)
    return "causal-lm", argv


def main(argv: list[str] | None = None, prog: str = "python -m train.classify.run") -> int:
    """``python -m train.classify.run FLAGS``: the same run as --task seq-cls of train.hf_trainer."""
    parser = HfArgumentParser(ClassifierConfig, prog=prog, allow_abbrev=False)
    (cfg,) = parser.parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)

    def train() -> None:
        print(json.dumps(train_model(cfg), indent=2))

    return exit_code(train)


if __name__ == "__main__":
    sys.exit(main())
