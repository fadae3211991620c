"""Merge a LoRA adapter into a 16-bit copy of its base model and save a plain HF model folder.

The base is always loaded unquantized in --dtype, also for adapters trained with QLoRA on a
4-bit base: merging into 4-bit weights would round the update away, so the adapter's B @ A is
added to the 16-bit weights instead (the QLoRA paper's own practice). The adapter's
modules_to_save (a fully trained embed_tokens / lm_head) replace the base's copies. When the
run resized the vocabulary (new tokens), the base embeddings are resized first, to the row
count stored in the adapter (or to the adapter tokenizer's length when it is larger).

The merged model (safetensors) and the tokenizer (the adapter's when it saved one, else the
base's) are written into a temporary folder beside --output and renamed into place at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from prep.core.errors import StageError

DTYPES = ("bf16", "fp16", "fp32")
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")
PEFT_PREFIX = "base_model.model."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", "--base_model", "--model_name_or_path", dest="base",
                        help="base model folder or hub id (default: base_model_name_or_path in adapter_config.json)")
    parser.add_argument("--adapter", "--adapter_dir", "--peft_model", dest="adapter", type=Path, required=True,
                        help="folder with adapter_config.json (a run's output_dir or one of its checkpoint-N)")
    parser.add_argument("--output", "--output_dir", dest="output", type=Path, required=True,
                        help="folder to write the merged model into")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16", help="dtype the base is loaded and saved in")
    parser.add_argument("--device", choices=("cpu", "auto"), default="cpu",
                        help="where to merge: cpu, or auto (accelerate spreads the model over GPUs and CPU)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output when it already exists")


def read_adapter_config(adapter: Path) -> dict:
    path = adapter / "adapter_config.json"
    if not path.is_file():
        if not adapter.is_dir():
            raise StageError(f"no such adapter folder: {adapter}")
        inside = sorted(p.parent.name for p in adapter.glob("*/adapter_config.json"))
        hint = f"; these folders inside it have one: {', '.join(inside)}" if inside else ""
        present = ", ".join(sorted(p.name for p in adapter.iterdir())[:15]) or "nothing"
        raise StageError(f"{adapter} has no adapter_config.json, so it is not a PEFT adapter "
                         f"(it holds: {present}){hint}")
    return json.loads(path.read_text(encoding="utf-8"))


def check_base(base: str | None) -> str:
    """A base that exists locally or looks like a hub id; clear errors otherwise."""
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoConfig

    if not base:
        raise StageError("no --base given and adapter_config.json names no base_model_name_or_path")
    path = Path(base).expanduser()
    looks_local = path.is_absolute() or base.startswith((".", "~")) or base.count("/") > 1
    if looks_local and not path.exists():
        raise StageError(f"base model folder {base} does not exist")
    try:
        config = AutoConfig.from_pretrained(str(path) if path.exists() else base)
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot load the base model {base!r}: {str(exc).splitlines()[0]}") from exc
    if getattr(config, "quantization_config", None):
        method = config.quantization_config.get("quant_method", "?") \
            if isinstance(config.quantization_config, dict) else "?"
        raise StageError(f"the base {base} is stored quantized ({method}); merging needs the 16-bit base "
                         "the quantized one was made from")
    return str(path) if path.exists() else base


def adapter_vocab(adapter: Path, embed_name: str, head_name: str | None) -> int | None:
    """Vocabulary rows the adapter was trained with, from the shapes of its saved embedding tensors."""
    # safetensors: imported here to keep it off the CLI's start-up path
    from safetensors import safe_open

    path = adapter / "adapter_model.safetensors"
    if not path.is_file():
        return None
    # Key suffix -> which dimension of that tensor is the vocabulary.
    wanted = {f"{embed_name}.weight": 0, f"{embed_name}.base_layer.weight": 0,
              f"{embed_name}.lora_embedding_A": 1}
    if head_name:
        wanted.update({f"{head_name}.weight": 0, f"{head_name}.base_layer.weight": 0,
                       f"{head_name}.lora_B.weight": 0})
    sizes = set()
    with safe_open(str(path), "pt") as tensors:
        for key in tensors.keys():
            name = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
            if name in wanted:
                sizes.add(tensors.get_slice(key).get_shape()[wanted[name]])
    return max(sizes) if sizes else None


def module_name(model, module) -> str | None:
    return next((name for name, m in model.named_modules() if m is module), None) if module is not None else None


def load_tokenizer(adapter: Path, base: str):
    """(tokenizer, where from): the adapter's own when it saved one, else the base's, else None."""
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoTokenizer

    for source in ([str(adapter)] if any((adapter / f).is_file() for f in TOKENIZER_FILES) else []) + [base]:
        try:
            return AutoTokenizer.from_pretrained(source), source
        except (OSError, ValueError):
            continue
    return None, None


def resize_for_adapter(model, adapter: Path, tokenizer) -> str | None:
    """Resize the base's embeddings to the adapter's vocabulary; a note when it did."""
    rows = model.get_input_embeddings().weight.shape[0]
    embed = module_name(model, model.get_input_embeddings())
    head = module_name(model, model.get_output_embeddings())
    target = adapter_vocab(adapter, embed, head)
    if target is None and tokenizer is not None and len(tokenizer) > rows:
        target = len(tokenizer)
    if target is None or target == rows:
        return None
    model.resize_token_embeddings(target, mean_resizing=False)
    return f"resized the base vocabulary {rows} -> {target} to match the adapter"


def keep_untied(model) -> str | None:
    """A tied config whose input and output embeddings now differ would lose lm_head on save: untie."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    if out is None or not getattr(model.config, "tie_word_embeddings", False) or inp.weight is out.weight:
        return None
    if torch.equal(inp.weight, out.weight):
        return None
    model.config.tie_word_embeddings = False
    return "the adapter trained the embeddings and the LM head apart: saved them untied"


def merge(base: str, adapter: Path, output: Path, dtype_name: str, device: str) -> list[str]:
    """Load, resize, apply, merge and save into output (an empty or new folder); returns notes."""
    # torch, transformers, peft: imported here to keep them off the CLI's start-up path
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    tokenizer, tokenizer_source = load_tokenizer(adapter, base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype,
                                                 device_map="auto" if device == "auto" else None)
    notes = [n for n in [resize_for_adapter(model, adapter, tokenizer)] if n]
    peft_model = PeftModel.from_pretrained(model, str(adapter))
    try:
        merged = peft_model.merge_and_unload()
    except (AttributeError, NotImplementedError) as exc:
        raise StageError(f"the adapter in {adapter} cannot be merged into the weights: {exc}") from exc
    notes += [n for n in [keep_untied(merged)] if n]
    merged.config.dtype = dtype
    merged.save_pretrained(output)
    if tokenizer is not None:
        tokenizer.save_pretrained(output)
        notes.append(f"tokenizer from {tokenizer_source}")
    else:
        notes.append("no tokenizer in the adapter nor the base: saved the model alone")
    return notes


def run(args: argparse.Namespace) -> int:
    config = read_adapter_config(args.adapter)
    base = check_base(args.base or config.get("base_model_name_or_path"))
    output: Path = args.output
    if output.exists() and not args.overwrite:
        raise StageError(f"{output} already exists; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    old = output.with_name(f".{output.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        notes = merge(base, args.adapter, tmp, args.dtype, args.device)
        if output.exists():
            os.replace(output, old)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    for note in notes:
        print(f"note: {note}")
    print(f"merged {args.adapter} into {base} ({args.dtype}) -> {output}")
    return 0
