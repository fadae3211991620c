"""TRL's DPO, ORPO and KTO trainers, fed the pre-tokenized columns as they are.

TRL 1.16 tokenizes text columns in each trainer's dataset step and has no switch for data
that is already tokenized (DPOTrainer/KTOTrainer._prepare_dataset always look for a text
``prompt``; ORPOTrainer maps ``tokenize_row`` over every row). The subclasses here replace
that one step where the ``prompt_ids`` column is present, and keep everything after it
(KTO's mismatched KL completions, ORPO's labels and truncation) the way TRL does it.

LoRA: the runner wraps the model itself (same targets, DoRA/rsLoRA, QLoRA preparation as
SFT). Given a PEFT model, TRL copies its adapter into a second "ref" adapter; a fresh adapter
(B = 0) adds nothing to the base, so the copy is dropped again and the reference is the base
with adapters disabled, which is what TRL does when it wraps the model itself.
"""
from __future__ import annotations

import warnings

from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

from train.export import card

# ORPO lives in trl.experimental, whose import warns that its API may change; constraints.txt pins
# the TRL version, so the warning would only repeat what the pin already says.
warnings.filterwarnings("ignore", message="You are importing from 'trl.experimental'")
from trl.experimental.orpo import ORPOConfig, ORPOTrainer  # noqa: E402

# The columns a TRL trainer reads once the dataset step is done.
PRETOKENIZED = "prompt_ids"


def _fitting(dataset, max_length):
    """Rows whose prompt leaves room for a completion under ``max_length`` (TRL drops the others)."""
    if max_length is None:
        return dataset
    return dataset.filter(lambda prompts: [len(p) < max_length for p in prompts], input_columns=PRETOKENIZED,
                          batched=True, keep_in_memory=True)


def _with_kl_completions(dataset, batch_size: int):
    """KTO's KL term: each prompt paired with its batch neighbour's completion, rotated by one
    inside batches of the per-device batch size, as KTOTrainer builds it from text."""
    def rotate(batch):
        ids = batch["completion_ids"]
        return {"KL_completion_ids": ids[-1:] + ids[:-1]}

    return dataset.map(rotate, batched=True, batch_size=batch_size, keep_in_memory=True)


def _drop_ref_copy(trainer) -> None:
    model = trainer.model
    if hasattr(model, "peft_config") and "ref" in model.peft_config:
        model.delete_adapter("ref")


class OurCard:
    """TRL writes its own README.md template into output_dir at every checkpoint save, and PEFT's
    save_pretrained adds another; the run folder should end with one card, made from the run's
    own record (train/export/card.py). The runner saves the state last, so the card comes then."""

    def create_model_card(self, *args, **kwargs):
        return None

    def save_state(self):
        super().save_state()
        if self.is_world_process_zero():
            card.write_for_trainer(self)


class _PairsOrRows(OurCard):
    """DPO and KTO: the reference is the base with adapters off; pre-tokenized data skips TRL's
    dataset step (kept for text data, which the runner never passes but TRL's API allows)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _drop_ref_copy(self)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if PRETOKENIZED not in dataset.column_names:
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        return self._prepared(dataset, args)


class PretokenizedDPO(_PairsOrRows, DPOTrainer):
    def _prepared(self, dataset, args):
        return _fitting(dataset, args.max_length if args.truncation_mode == "keep_start" else None)


class PretokenizedKTO(_PairsOrRows, KTOTrainer):
    def _prepared(self, dataset, args):
        dataset = _fitting(dataset, args.max_length)
        return _with_kl_completions(dataset, args.per_device_train_batch_size) if self.calculate_KL else dataset


class PretokenizedORPO(OurCard, ORPOTrainer):
    def tokenize_row(self, feature, model=None):
        if PRETOKENIZED not in feature:
            return super().tokenize_row(feature, model)
        prompt = list(feature[PRETOKENIZED])
        row = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
        for side in ("chosen", "rejected"):
            # ORPO keeps the prompt whole and cuts the completion to fit, as tokenize_row does.
            answer = list(feature[f"{side}_ids"])[: max(0, self.max_length - len(prompt))]
            row[f"{side}_input_ids"] = prompt + answer
            row[f"{side}_attention_mask"] = [1] * (len(prompt) + len(answer))
            row[f"{side}_labels"] = [-100] * len(prompt) + answer
        return row


# --method -> (trainer, its config class)
TRAINERS = {"dpo": (PretokenizedDPO, DPOConfig), "kto": (PretokenizedKTO, KTOConfig),
            "orpo": (PretokenizedORPO, ORPOConfig)}
