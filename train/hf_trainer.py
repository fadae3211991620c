"""Full fine-tune or LoRA with the flags of the guide's PygmalionAI training script.

    accelerate launch -m train.hf_trainer --model_name_or_path M \\
        --train_file train.arrow --eval_file eval.arrow --output_dir OUT [flags]

Takes every transformers TrainingArguments flag (old spellings such as
--evaluation_strategy are mapped with a warning) plus --use_lora --lora_rank --lora_alpha
--lora_dropout --lora_target_modules, --use_xformers, --model_load_delay_per_rank,
--add_special_tokens, --uft, and the QLoRA flags (--bits 4 with --use_lora). Rerunning the
same command resumes from the latest complete checkpoint in OUT (--overwrite_output_dir
starts over). Run with --help for the full list.
"""
from __future__ import annotations

import sys

PROG = "accelerate launch -m train.hf_trainer"


def types() -> tuple:
    from transformers import TrainingArguments

    from train.args import DataArguments, LoraArguments, ModelArguments, QuantArguments, RunArguments
    return (ModelArguments, DataArguments, LoraArguments, QuantArguments, RunArguments, TrainingArguments)


def main(argv: list[str] | None = None) -> int:
    from train.runner import cli_main

    return cli_main(argv, types(), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
