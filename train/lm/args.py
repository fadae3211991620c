"""The training runner's flags: typed dataclasses parsed with transformers.TrainingArguments.

Both entry points (train.hf_trainer, train.qlora) parse these dataclasses, so the model,
data, LoRA and quantization flags work with both; train.qlora keeps qlora.py's defaults
(LoRA on a 4-bit base, rank 64, paged AdamW...) and adds its MMLU/generation flags.
Old spellings that transformers renamed or dropped are rewritten first (train/lm/legacy_flags.py).

No ``from __future__ import annotations`` here: HfArgumentParser reads the field types.
"""
import dataclasses
import re
import types as pytypes
import typing
from argparse import SUPPRESS, ArgumentTypeError
from dataclasses import dataclass, field
from typing import Literal

from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

from prep.core.errors import StageError
from train.lm import lora
from train.preference.args import PreferenceArguments

ATTENTION = Literal["eager", "sdpa", "flash_attention_2"]


def option(default, help: str, **metadata):
    """A dataclass field with its --help text (every flag has one)."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "base model: a local folder or a hub id"})
    tokenizer_name_or_path: str | None = option(None, "tokenizer folder or hub id (default: the model's)")
    attn_implementation: ATTENTION = option(
        "sdpa", "attention kernel: sdpa (PyTorch scaled dot product; falls back to eager where a "
        "model lacks it), eager, or flash_attention_2 (needs the flash-attn package and CUDA)")
    use_xformers: bool = option(False, "the guide's xFormers switch: selects PyTorch SDPA attention, "
                            "which has the same memory-efficient kernels built in")
    trust_remote_code: bool = option(False, "allow model code from the model's folder/hub repo to run")
    use_auth_token: bool = option(False, "use the token saved by `hf auth login` for gated/private models")
    cache_dir: str | None = option(None, "where downloaded models are cached")
    low_cpu_mem_usage: bool = option(True, "accepted for compatibility; transformers always loads lazily now")
    model_load_delay_per_rank: float | None = option(
        None, "sleep this many seconds times the local rank before loading the model, so that "
        "processes do not all peak in RAM at once")
    add_special_tokens: str | None = option(
        None, "comma-separated special tokens to add to the tokenizer; the embeddings grow to fit")
    max_memory_MB: int | None = option(None, "memory cap per GPU in MiB when placing a quantized model")
    use_liger: bool = option(False, "Liger kernels: fused linear cross-entropy, RMSNorm, RoPE, SwiGLU (less "
                             "memory, faster); needs the liger-kernel package and a CUDA GPU")
    enable_profiler: bool = option(False, "accepted for compatibility with the guide's script; ignored "
                                   "with a warning")


@dataclass
class DataArguments:
    train_file: str | None = option(None, "training data: Arrow from `tunesmith prep tokenize` (stream, IPC "
                                "file or folder of shards) or JSONL/JSON records tokenized on the fly")
    eval_file: str | None = option(None, "evaluation data, same formats as --train_file")
    dataset: str | None = option(None, "qlora.py's spelling of --train_file: a JSONL/JSON file or folder, or Arrow")
    dataset_format: str | None = option(
        None, "record layout of JSONL data: input-output (default), alpaca, self-instruct, chip2, "
        "hh-rlhf, oasst1, text, messages")
    prompt_format: str = option(
        "auto", "JSONL data: how a prompt/response pair is laid out: chat (the tokenizer's chat template), "
        "alpaca (the Stanford Alpaca prompt), raw (back to back) or template (--template_file); auto: chat "
        "where the tokenizer has a template, else alpaca; raw under a --dataset_format that writes its own "
        "prompt (alpaca, alpaca-clean, chip2, self-instruct, hh-rlhf, oasst1)")
    system_prompt: str = option("none", "JSONL data, chat format: the system message of records that have "
                                "none; none keeps a template's own default system text out, template-default "
                                "lets the template add it")
    template_file: str | None = option(None, "JSONL data: a text file whose {prompt} (or {instruction} and "
                                       "{input}) is filled in; the response follows it")
    eval_dataset_size: float = option(0, "without --eval_file, hold out this many training examples "
                                  "(or this fraction when below 1) for evaluation; 0: none")
    max_train_samples: int | None = option(None, "use only the first N training examples (quick runs)")
    max_eval_samples: int | None = option(None, "use only the first N evaluation examples")
    max_length: int | None = option(None, "JSONL data: longest example in tokens (default: source_max_len + "
                                "target_max_len where both are given, else 2048)")
    source_max_len: int | None = option(None, "JSONL data: most tokens kept of the input (BOS + prompt)")
    target_max_len: int | None = option(None, "JSONL data: most tokens kept of the output (+ EOS)")
    train_on_source: bool = option(False, "JSONL data: also train on the input side, not only the output")
    uft: bool = option(False, "unsupervised fine-tuning: train on every token (labels = input_ids); "
                   "also makes data without a labels column usable")
    group_by_length: bool = option(False, "batch examples of similar length together (less padding); "
                               "the order is still shuffled, seeded per epoch")
    pad_to_multiple_of: int = option(8, "pad batches to a multiple of this many tokens (tensor cores "
                                 "like multiples of 8); 0: no rounding")
    packing: Literal["none", "padding-free"] = option(
        "none", "padding-free: each batch's examples concatenated into one row with no padding, positions "
        "restarting at each example and attention kept inside it (flash varlen, or an SDPA block mask)")


@dataclass
class LoraArguments:
    use_lora: bool = option(False, "train LoRA adapters instead of the full model")
    lora_rank: int = option(lora.RANK, "LoRA rank r", aliases=["--lora_r"])
    lora_alpha: float = option(lora.ALPHA, "LoRA alpha (the update is scaled by alpha / r)")
    lora_dropout: float = option(lora.DROPOUT, "dropout on the LoRA input")
    lora_target_modules: str | None = option(
        None, "comma-separated module names to adapt (q_proj,v_proj,...; embed_tokens and lm_head "
        "work too), or all-linear; default: PEFT's choice for the architecture")
    use_dora: bool = option(False, "DoRA (PEFT's use_dora): split each adapted weight into a direction, which "
                            "LoRA updates, and a trained magnitude per output feature; slower steps")
    use_rslora: bool = option(False, "rank-stabilized LoRA (PEFT's use_rslora): scale the update by "
                              "alpha / sqrt(r) instead of alpha / r")
    full_finetune: bool = option(False, "qlora.py's switch: train every weight (no adapters; needs --bits 16/32)")


@dataclass
class QuantArguments:
    bits: Literal[4, 8, 16, 32] = option(16, "precision of the frozen base under LoRA: 4 or 8 load it "
                                     "quantized with bitsandbytes (QLoRA); 16/32 do not quantize")
    double_quant: bool = option(True, "4-bit: also quantize the quantization constants (saves ~0.37 bit/param)")
    quant_type: Literal["nf4", "fp4"] = option("nf4", "4-bit data type")
    adam8bit: bool = option(False, "qlora.py's switch: same as --optim adamw_bnb_8bit")


@dataclass
class RunArguments(PreferenceArguments):  # --method, --loss_type, --beta ... (train/preference/args.py)
    task: Literal["causal-lm", "seq-cls"] = option(
        "causal-lm", "causal-lm: fine-tune a language model; seq-cls: train a text classifier on labelled "
        "text (its own flags: --task seq-cls --help)")
    overwrite_output_dir: bool = option(False, "start over: delete the checkpoints already in --output_dir "
                                    "instead of resuming from the latest complete one")
    sample_prompts: str | None = option(
        None, "JSONL (prompt strings, records of any known layout, lists of turns) or a text file with one "
        "prompt per line: greedy answers, laid out as the training data, are written at each evaluation and "
        "at the end to OUTPUT_DIR/samples.jsonl (and TensorBoard/W&B when on)")
    sample_every: int = option(0, "with --sample_prompts, also sample every N optimizer steps (for runs "
                               "without evaluation); 0: only at evaluations and at the end")
    sample_max_new_tokens: int = option(64, "with --sample_prompts, most tokens generated per prompt; a "
                                        "generation that reaches it without an EOS is flagged in the log")


def with_defaults(cls, name: str, module: str, **defaults):
    """A subclass of dataclass ``cls`` whose fields have other defaults (help texts kept).

    It is named ``module.name`` so that pickle finds it (the Trainer pickles its arguments
    into training_args.bin); ``module`` must hand it out under that name.
    """
    hints = typing.get_type_hints(cls)  # resolved: HfArgumentParser reads them from the new class
    fields = []
    for item in dataclasses.fields(cls):
        if item.name in defaults:
            fields.append((item.name, hints[item.name], field(default=defaults[item.name],
                                                              metadata=item.metadata)))
    made = dataclasses.make_dataclass(name, fields, bases=(cls,))
    made.__module__ = module
    return made


_BOOL_WORDS = ("yes", "true", "t", "y", "1", "no", "false", "f", "n", "0")  # what string_to_bool reads


def _str_or_bool(words: tuple[str, ...]):
    """argparse type for a ``str | bool`` field: one of ``words`` (any string where none are
    listed), or a true/false word."""
    def convert(value: str):
        if value in words or (not words and value.lower() not in _BOOL_WORDS):
            return value
        try:
            return string_to_bool(value)
        except ArgumentTypeError:
            raise ArgumentTypeError(f"expected one of {', '.join(words)} or true/false, got {value!r}") from None
    return convert


def _fix_str_or_bool(parser, types: tuple) -> None:
    """HfArgumentParser reads a ``str | bool`` field as a plain bool, so that
    --include_num_input_tokens_seen non_padding (which TrainingArguments takes) was refused.
    Such fields take the words their help lists ("one of [`all`, `non_padding`, `no`]") or a bool."""
    for cls in types:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            hint = hints.get(item.name)
            if not isinstance(hint, pytypes.UnionType) and typing.get_origin(hint) is not typing.Union:
                continue
            if not {str, bool} <= set(typing.get_args(hint)):
                continue
            action = parser._option_string_actions.get(f"--{item.name}")  # argparse has no public lookup
            listed = re.search(r"one of \[([^\]]*)\]", item.metadata.get("help", ""))
            words = tuple(re.findall(r"`([^`]+)`", listed.group(1))) if listed else ()
            if action is not None:
                action.type = _str_or_bool(words)


def parser_for(types: tuple, prog: str) -> HfArgumentParser:
    """The parser of ``types``' flags, plus --config (read before parsing: train/run_config.py)."""
    parser = HfArgumentParser(types, prog=prog, allow_abbrev=False)
    _fix_str_or_bool(parser, types)
    # SUPPRESS: no attribute unless given, so parsing returns no extra namespace.
    parser.add_argument("--config", default=SUPPRESS, metavar="YAML",
                        help="read flags from a YAML file (keys are the flag names); flags on the "
                        "command line win over the file's")
    return parser


def parse(argv: list[str], types: tuple, prog: str):
    """Parse ``argv`` (old spellings already rewritten, --config expanded) into instances of ``types``."""
    return parser_for(types, prog).parse_args_into_dataclasses(args=argv, look_for_args_file=False)


def method_of(lora_args: LoraArguments, quant_args: QuantArguments) -> str:
    """'full', 'lora' or 'qlora' (LoRA on a 4/8-bit base)."""
    if lora_args.full_finetune or not lora_args.use_lora:
        if quant_args.bits in (4, 8):
            raise StageError(f"--bits {quant_args.bits} quantizes the base model, which can then only "
                             "train adapters: add --use_lora (or drop --full_finetune), or use --bits 16")
        return "full"
    return "qlora" if quant_args.bits in (4, 8) else "lora"
