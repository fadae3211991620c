"""QLoRA (or LoRA / full) with the flags and defaults of qlora.py, as the guide runs it.

    python -m train.qlora --model_name_or_path M --dataset DATA --dataset_format input-output \\
        --output_dir OUT [flags]          (or under accelerate launch)

Same runner as train.hf_trainer, with qlora.py's defaults: LoRA (rank 64, alpha 16, no
dropout) on all linear layers of a 4-bit NF4 double-quantized base, paged AdamW, lr 2e-4,
constant schedule with 3% warmup, gradient checkpointing, length-grouped batches, source
1024 / target 256 tokens, 1024 examples held out for eval. --dataset is a JSONL/JSON file
or folder (tokenized on the fly) or Arrow. qlora.py's --max_steps 10000 default is not
kept: --num_train_epochs works as written. MMLU and generation flags are accepted;
--do_mmlu_eval True stops with a message (no MMLU data here).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from transformers import Seq2SeqTrainingArguments

from prep.core.errors import StageError
from train.lm import args as a
from train.lm.args import option
from train.lm.model import warn
from train.lm.runner import cli_main


@dataclass
class MmluArguments:
    do_mmlu_eval: bool = option(False, "qlora.py's MMLU evaluation: not supported here (stops with a message)")
    mmlu_split: str = option("eval", "accepted for compatibility (MMLU is not run)")
    mmlu_dataset: str = option("mmlu-fs", "accepted for compatibility (MMLU is not run)")
    max_mmlu_samples: int | None = option(None, "accepted for compatibility (MMLU is not run)")
    mmlu_source_max_len: int = option(2048, "accepted for compatibility (MMLU is not run)")


@dataclass
class GenerationArguments:
    """qlora.py's generation settings, used there only with --predict_with_generate."""
    max_new_tokens: int | None = option(256, "accepted for compatibility (no generation during training)")
    min_new_tokens: int | None = option(None, "accepted for compatibility")
    do_sample: bool = option(False, "accepted for compatibility")
    num_beams: int = option(1, "accepted for compatibility")
    num_beam_groups: int = option(1, "accepted for compatibility")
    penalty_alpha: float | None = option(None, "accepted for compatibility")
    temperature: float = option(1.0, "accepted for compatibility")
    top_k: int = option(50, "accepted for compatibility")
    top_p: float = option(1.0, "accepted for compatibility")
    typical_p: float = option(1.0, "accepted for compatibility")
    diversity_penalty: float = option(0.0, "accepted for compatibility")
    repetition_penalty: float = option(1.0, "accepted for compatibility")
    length_penalty: float = option(1.0, "accepted for compatibility")
    no_repeat_ngram_size: int = option(0, "accepted for compatibility")


def _build() -> dict:
    """The dataclasses with qlora.py's defaults, by name."""
    return {
        "QLoraDataArguments": a.with_defaults(
            a.DataArguments, "QLoraDataArguments", __name__, eval_dataset_size=1024, source_max_len=1024,
            target_max_len=256, group_by_length=True),
        "QLoraLoraArguments": a.with_defaults(
            a.LoraArguments, "QLoraLoraArguments", __name__, use_lora=True, lora_rank=64, lora_alpha=16,
            lora_dropout=0.0, lora_target_modules="all-linear"),
        "QLoraQuantArguments": a.with_defaults(a.QuantArguments, "QLoraQuantArguments", __name__, bits=4),
        "QLoraTrainingArguments": a.with_defaults(
            Seq2SeqTrainingArguments, "QLoraTrainingArguments", __name__, output_dir="./output",
            optim="paged_adamw_32bit", per_device_train_batch_size=1, gradient_accumulation_steps=16,
            learning_rate=2e-4, max_grad_norm=0.3, do_train=True, lr_scheduler_type="constant",
            warmup_steps=0.03, logging_steps=10, save_steps=250, save_total_limit=40, report_to="none"),
    }


_BUILT: dict = {}
PROG = "python -m train.qlora"
# qlora.py checkpoints activations by default. Given as a leading flag rather than a field
# default: HfArgumentParser cannot build the --no_ form of this TrainingArguments field.
LEADING = ("--activation_checkpointing", "true")


def __getattr__(name: str):
    """The QLora* dataclasses, built on first use (transformers loads only then)."""
    if name.startswith("QLora"):
        if not _BUILT:
            _BUILT.update(_build())
        if name in _BUILT:
            return _BUILT[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def types() -> tuple:
    return (a.ModelArguments, __getattr__("QLoraDataArguments"), __getattr__("QLoraLoraArguments"),
            __getattr__("QLoraQuantArguments"), a.RunArguments, MmluArguments, GenerationArguments,
            __getattr__("QLoraTrainingArguments"))


def check(parsed) -> None:
    """qlora.py switches this runner does not carry out: say so instead of ignoring them."""
    mmlu = next(p for p in parsed if isinstance(p, MmluArguments))
    if mmlu.do_mmlu_eval:
        raise StageError("--do_mmlu_eval True: MMLU evaluation is not supported here (it needs qlora.py's "
                         "MMLU files); drop it or pass --do_mmlu_eval False")
    for p in parsed:
        if getattr(p, "predict_with_generate", False) or getattr(p, "do_predict", False):
            warn("--predict_with_generate/--do_predict: no generation pass here; evaluation reports loss only")


def main(argv: list[str] | None = None) -> int:
    return cli_main(argv, types(), prog=PROG, check=check, leading=LEADING)


if __name__ == "__main__":
    sys.exit(main())
