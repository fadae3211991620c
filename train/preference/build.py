"""A preference-tuning trainer from the runner's parsed flags: data, model, TRL config, trainer.

The runner calls ``build`` in place of its SFT data/collator/trainer steps; everything around
it (flags, --config, run_config.yaml, resume from the latest complete checkpoint, the
completion marker, curves) is the runner's own and works the same for every method.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses

import datasets
from transformers import TrainingArguments

from prep.core.errors import StageError
from train.lm.checkpoints import completion_callback
from train.lm.model import embedding_rows, load_model, special_tokens, warn
from train.preference.args import loss_types
from train.preference.data import check_vocab, load_preference, longest
from train.preference.trainers import TRAINERS


@contextlib.contextmanager
def uncached():
    """datasets' map/filter cache files would land beside the user's Arrow files (and a folder
    of shards would then read them as data): while on, they go to a temporary folder."""
    was = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if was:
            datasets.enable_caching()


def settle(data_args, training_args, method: str) -> None:
    """SFT-only data switches stop or warn instead of doing nothing silently."""
    if data_args.packing != "none" or data_args.uft:
        raise StageError(f"--method {method}: --packing and --uft are SFT switches (pairs are padded per side)")
    if data_args.group_by_length:
        warn(f"--group_by_length is not used with --method {method}: TRL's sampler orders the pairs")


def trl_config(method: str, training_args, pref_args, data_args, datasets_: list):
    """The TRL config for ``method``: every TrainingArguments value as parsed, plus the method's own."""
    values = {f.name: getattr(training_args, f.name) for f in dataclasses.fields(TrainingArguments) if f.init}
    extra = {} if pref_args.beta is None else {"beta": pref_args.beta}
    if method in ("dpo", "kto"):
        # The data was cut to length when tokenized: no second truncation unless --max_length says so.
        extra.update(max_length=data_args.max_length, pad_to_multiple_of=data_args.pad_to_multiple_of or None)
        names = loss_types(pref_args)
        if names:
            extra["loss_type"] = names if method == "dpo" else names[0]
    if method == "dpo":
        # DPO's own label smoothing (robust DPO's flip rate, EXO's epsilon); the Trainer's is unused.
        extra["label_smoothing"] = values["label_smoothing_factor"]
        values["label_smoothing_factor"] = 0.0
    if method == "kto":
        extra.update(desirable_weight=pref_args.desirable_weight, undesirable_weight=pref_args.undesirable_weight)
        if extra.get("loss_type", "kto") == "kto":
            values["train_sampling_strategy"] = "sequential"  # KL completions are fixed per batch
    if method == "orpo":
        extra["max_length"] = data_args.max_length or max(longest(ds) for ds in datasets_ if ds is not None)
    return TRAINERS[method][1](**values, **extra)


def _check_eval(training_args, eval_ds) -> None:
    if eval_ds is None and getattr(training_args.eval_strategy, "value", "no") != "no":
        raise StageError(f"--eval_strategy {training_args.eval_strategy} needs evaluation data: pass "
                         "--eval_file or --eval_dataset_size N")


def build(model_args, data_args, lora_args, quant_args, training_args, pref_args, tokenizer, method: str,
          callbacks=()) -> tuple:
    """(train dataset, eval dataset or None, trainer) for --method dpo|orpo|kto."""
    objective = pref_args.method
    settle(data_args, training_args, objective)
    with uncached():
        train_ds, eval_ds = load_preference(data_args, training_args, objective)
        _check_eval(training_args, eval_ds)
        config = trl_config(objective, training_args, pref_args, data_args, [train_ds, eval_ds])
        model = load_model(model_args, lora_args, quant_args, training_args, tokenizer, method)
        check_vocab({"train": train_ds, "eval": eval_ds}, embedding_rows(model))
        kwargs = {}
        if objective != "orpo" and method == "full" and special_tokens(model_args):
            # TRL would load the reference from the model's folder, without the grown embeddings.
            kwargs["ref_model"] = copy.deepcopy(model).eval().requires_grad_(False)
        try:
            trainer = TRAINERS[objective][0](
                model=model, args=config, train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
                callbacks=[completion_callback(), *callbacks], **kwargs)
        except ValueError as exc:  # TRL reports unusable settings as ValueError
            raise StageError(f"--method {objective}: {exc}") from exc
    return trainer.train_dataset, trainer.eval_dataset, trainer
