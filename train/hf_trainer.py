"""Full fine-tune or LoRA with the flags of the guide's PygmalionAI training script.

    accelerate launch -m train.hf_trainer --model_name_or_path M \\
        --train_file train.arrow --eval_file eval.arrow --output_dir OUT [flags]

Takes every transformers TrainingArguments flag (old spellings such as
--evaluation_strategy are mapped with a warning) plus --use_lora --lora_rank --lora_alpha
--lora_dropout --lora_target_modules, --use_xformers, --model_load_delay_per_rank,
--add_special_tokens, --uft, and the QLoRA flags (--bits 4 with --use_lora). Rerunning the
same command resumes from the latest complete checkpoint in OUT (--overwrite_output_dir
starts over). Run with --help for the full list. Speed switches: --attn_implementation,
--bf16/--fp16, --torch_compile, --gradient_checkpointing, --group_by_length,
--packing padding-free, --use_liger. ``--task seq-cls`` trains a text classifier instead
(train/classifier.py; its flags: --task seq-cls --help).
"""
from __future__ import annotations

import sys

from transformers import TrainingArguments

from train.classify.run import main as classify
from train.classify.run import split_task
from train.lm.args import DataArguments, LoraArguments, ModelArguments, QuantArguments, RunArguments
from train.lm.model import warn
from train.lm.runner import cli_main
from train.lm.threads import settle_threads

PROG = "accelerate launch -m train.hf_trainer"


def types() -> tuple:
    return (ModelArguments, DataArguments, LoraArguments, QuantArguments, RunArguments, TrainingArguments)


def main(argv: list[str] | None = None) -> int:
    task, rest = split_task(sys.argv[1:] if argv is None else list(argv))
    if task == "seq-cls":  # the classifier has flags of its own (--data_dir, --label_key, ...)
        note = settle_threads()  # the causal LM runner does this in cli_main
        if note:
            warn(note)
        return classify(rest, prog=f"{PROG} --task seq-cls")
    return cli_main(argv, types(), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
