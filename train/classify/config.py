"""The --task seq-cls configuration: one dataclass of flags, and the seed's names for them."""
import dataclasses
import sys
import types
from dataclasses import dataclass, field
from typing import Literal


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class ClassifierConfig:
    model_name_or_path: str = _opt("scratch-small", "transformers model folder/hub id, minilm (the packaged "
                                   "all-MiniLM-L6-v2), or scratch, scratch-tiny, scratch-small, scratch-base "
                                   "(our encoder, random weights)")
    tokenizer_name_or_path: str | None = _opt(None, "tokenizer (default: the model's; for scratch models a "
                                              "UTF-8 byte tokenizer)")
    data_dir: str | None = _opt(None, "folder with train.{jsonl,txt} and validation/valid/val/dev/eval splits "
                                "(text files with a .labels file beside each)")
    train_file: str | None = _opt(None, "training split: JSONL with text and label, or a text file + labels file")
    eval_file: str | None = _opt(None, "evaluation split, same formats")
    text_key: str = _opt("text", "JSONL key of the text")
    label_key: str = _opt("label", "JSONL key of the label")
    output_dir: str = _opt("data/models/classifier", "where the model, labels.json and metrics.json go")
    max_length: int = _opt(128, "longest example in tokens (longer ones are truncated)")
    num_train_epochs: float = _opt(3.0, "passes over the training split")
    per_device_train_batch_size: int = _opt(16, "training batch size")
    per_device_eval_batch_size: int = _opt(64, "evaluation batch size")
    learning_rate: float = _opt(5e-5, "peak learning rate (AdamW)")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    warmup_ratio: float = _opt(0.1, "fraction of the steps spent warming the learning rate up")
    attn_implementation: str | None = _opt(None, "eager, sdpa or flash_attention_2 (default: sdpa where "
                                           "the model has it)")
    bf16: bool = _opt(False, "bfloat16 mixed precision (GPU with bf16, or CPU)")
    fp16: bool = _opt(False, "float16 mixed precision (CUDA only)")
    torch_compile: bool = _opt(False, "compile the model with torch.compile (slow first steps)")
    gradient_checkpointing: bool = _opt(False, "recompute activations in the backward pass (less memory)")
    group_by_length: bool = _opt(False, "batch examples of similar length (with dynamic padding: less padding)")
    pad_to_max_length: bool = _opt(False, "pad every batch to --max_length (the slow baseline)")
    use_liger: bool = _opt(False, "Liger fused kernels (needs liger-kernel and CUDA)")
    norm: Literal["pre", "post"] = _opt("pre", "scratch encoder: layer norm before (pre) or after (post) "
                                        "each attention and MLP")
    pooling: Literal["first", "mean"] = _opt("first", "scratch encoder: classify from the first token or from "
                                             "the mean of the real tokens")
    dropout: float = _opt(0.1, "scratch encoder: dropout")
    seed: int = _opt(42, "random seed (weights, shuffling)")
    logging_steps: int = _opt(10, "log the loss every N steps")
    use_cpu: bool = _opt(False, "train on the CPU even where a GPU is present")
    quiet: bool = _opt(False, "no progress bars")


# The seed's config names (any case) -> ours.
SEED_NAMES = {"model_name": "model_name_or_path", "model": "model_name_or_path", "epochs": "num_train_epochs",
              "num_epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
              "train_batch_size": "per_device_train_batch_size", "eval_batch_size": "per_device_eval_batch_size",
              "lr": "learning_rate", "max_len": "max_length", "max_seq_length": "max_length",
              "data_path": "data_dir", "output_path": "output_dir", "save_dir": "output_dir",
              "tokenizer_name": "tokenizer_name_or_path", "warmup": "warmup_ratio"}


def config_from(source) -> ClassifierConfig:
    """A ClassifierConfig from a module, a dataclass, a namespace or a dict of flag values."""
    if isinstance(source, ClassifierConfig):
        return source
    if isinstance(source, dict):
        items = source
    elif dataclasses.is_dataclass(source):
        items = dataclasses.asdict(source)
    else:
        items = {k: v for k, v in vars(source).items() if not k.startswith("_")
                 and not isinstance(v, types.ModuleType) and not callable(v)}
    known = {f.name for f in dataclasses.fields(ClassifierConfig)}
    values, unknown = {}, []
    for key, value in items.items():
        name = SEED_NAMES.get(key.lower(), key.lower())
        if name in known:
            values[name] = value
        else:
            unknown.append(key)
    if unknown:
        print(f"tunesmith: warning: config fields not used: {', '.join(sorted(unknown))}", file=sys.stderr)
    return ClassifierConfig(**values)
