"""Loading the model for a full fine-tune, LoRA, or QLoRA (LoRA on a 4/8-bit base).

Full fine-tunes load fp32 weights and let --bf16/--fp16 mixed precision do 16-bit math
(16-bit master weights cannot take small updates, and fp16 ones break the loss scaler).
LoRA keeps the frozen base in the 16-bit compute dtype and its adapters in fp32.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from collections import OrderedDict

import torch
from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from prep.core.errors import StageError
from prep.tokenize.encode import load_tokenizer as load
from train.lm.lora import parse_targets, peft_config

# Module types LoRA can wrap (PEFT's own list is longer; these are what causal LMs hold).
LORA_TYPES = ("Linear", "Embedding", "Conv1D", "Linear4bit", "Linear8bitLt")


def is_main_process() -> bool:
    """Rank 0 (or no distributed launch): the one process that prints and writes run files."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def warn(message: str) -> None:
    if is_main_process():
        print(f"tunesmith: warning: {message}", file=sys.stderr)


def special_tokens(model_args) -> tuple[str, ...]:
    return tuple(t.strip() for t in (model_args.add_special_tokens or "").split(",") if t.strip())


def load_tokenizer(model_args):
    """The model's tokenizer (or --tokenizer_name_or_path), extra special tokens added, a pad id set."""
    tokenizer = load(model_args.tokenizer_name_or_path or model_args.model_name_or_path,
                     special_tokens(model_args))
    tokenizer.padding_side = "right"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise StageError("the tokenizer has neither a pad nor an EOS token to pad batches with")
        tokenizer.pad_token = tokenizer.eos_token  # safe: padding is masked by length, not by id
    return tokenizer


def weights_dtype(method: str, training_args):
    if method == "full":
        return torch.float32
    return torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else torch.float32


def quantization(quant_args, compute_dtype, fsdp: bool):
    if quant_args.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=quant_args.quant_type,
        bnb_4bit_use_double_quant=quant_args.double_quant, bnb_4bit_compute_dtype=compute_dtype,
        # FSDP shards flat tensors of one dtype: store the packed 4-bit weights as that dtype.
        bnb_4bit_quant_storage=compute_dtype if fsdp else None)


def _placement(model_args, training_args, fsdp: bool) -> dict:
    """device_map/max_memory for a quantized base (bitsandbytes quantizes while loading)."""
    if fsdp:
        return {}  # FSDP places and shards the weights itself
    if not torch.cuda.is_available() or training_args.use_cpu:
        return {"device_map": {"": "cpu"}}
    index = training_args.local_process_index
    placement = {"device_map": {"": index}}
    if model_args.max_memory_MB:
        placement["max_memory"] = {index: f"{model_args.max_memory_MB}MiB"}
    return placement


def _from_pretrained(model_args, kwargs: dict):
    attn = "sdpa" if model_args.use_xformers else model_args.attn_implementation
    try:
        return AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, attn_implementation=attn,
                                                    **kwargs)
    except ValueError as exc:
        if attn != "sdpa" or "sdpa" not in str(exc).lower() and "scaled_dot" not in str(exc):
            raise StageError(f"cannot load {model_args.model_name_or_path}: {exc}") from exc
        warn(f"{model_args.model_name_or_path} has no SDPA attention; using eager")
        return AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, attn_implementation="eager",
                                                    **kwargs)
    except (OSError, ImportError) as exc:
        raise StageError(f"cannot load {model_args.model_name_or_path}: {exc}") from exc


def embedding_rows(model) -> int:
    """Rows of the input embedding, also under a LoRA wrapper and under ZeRO-3, whose
    partitioned weights are empty locally and keep their real shape in ``ds_shape``."""
    embedding = model.get_input_embeddings()
    weight = getattr(embedding, "base_layer", embedding).weight
    return getattr(weight, "ds_shape", weight.shape)[0]


def fit_vocab(model, tokenizer, added: bool) -> bool:
    """Grow the embeddings for added special tokens (True where they grew); stop where the
    tokenizer does not fit the model."""
    rows = embedding_rows(model)
    size = len(tokenizer)
    if size <= rows:
        return False
    if not added:
        raise StageError(f"the tokenizer has {size} tokens but the model's embedding has {rows} rows: use "
                         "the model's own tokenizer, or pass the added tokens with --add_special_tokens "
                         "so that the embeddings grow to fit")
    warn(f"growing the embeddings from {rows} to {size} rows for the added special tokens "
         "(new rows start at the mean of the old ones)")
    model.resize_token_embeddings(size)
    return True


def load_model(model_args, lora_args, quant_args, training_args, tokenizer, method: str):
    """The model ready for the Trainer: quantized/prepared/wrapped with LoRA as ``method`` says."""
    if model_args.model_load_delay_per_rank:
        time.sleep(model_args.model_load_delay_per_rank * max(0, training_args.local_process_index))
    fsdp = bool(training_args.fsdp) or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    dtype = weights_dtype(method, training_args)
    kwargs = {"dtype": dtype, "trust_remote_code": model_args.trust_remote_code,
              "cache_dir": model_args.cache_dir, "token": True if model_args.use_auth_token else None}
    if method == "qlora":
        kwargs.update(quantization_config=quantization(quant_args, dtype, fsdp),
                      **_placement(model_args, training_args, fsdp))
    model = _from_pretrained(model_args, kwargs)
    grew = fit_vocab(model, tokenizer, added=bool(special_tokens(model_args)))
    if training_args.activation_checkpointing:
        model.config.use_cache = False  # the cache is useless in training and clashes with checkpointing
    if method == "full":
        return model
    return apply_lora(model, lora_args, training_args, method, grew=grew, sharded=fsdp)


def module_groups(model) -> "OrderedDict[str, tuple[int, str]]":
    """{leaf name: (count, type)} for the model's leaf modules, in model order."""
    groups: OrderedDict[str, tuple[int, str]] = OrderedDict()
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            leaf = name.rsplit(".", 1)[-1]
            count, kind = groups.get(leaf, (0, type(module).__name__))
            groups[leaf] = (count + 1, kind)
    return groups


def describe_modules(model) -> str:
    parts = [f"{leaf} x{count} ({kind})" for leaf, (count, kind) in module_groups(model).items()]
    return "; ".join(parts)


def check_targets(model, targets) -> None:
    """Every named target must match a module LoRA can wrap (PEFT silently skips some)."""
    if not isinstance(targets, list):
        return
    modules = dict(model.named_modules())
    for target in targets:
        hits = [m for n, m in modules.items() if n == target or n.endswith("." + target)]
        if not hits or not any(type(m).__name__ in LORA_TYPES for m in hits):
            what = "matches no module" if not hits else f"is a {type(hits[0]).__name__}, which LoRA cannot adapt"
            raise StageError(f"--lora_target_modules {target} {what} of {model.config.model_type or 'the model'}. "
                             f"Its modules: {describe_modules(model)}")


def apply_lora(model, lora_args, training_args, method: str, grew: bool, sharded: bool = False):
    targets = parse_targets(lora_args.lora_target_modules)
    check_targets(model, targets)
    if grew and not (isinstance(targets, list) and {"embed_tokens", "lm_head"} & set(targets)):
        warn("special tokens were added but embed_tokens/lm_head are not LoRA targets: the new tokens "
             "keep their initial embeddings; add embed_tokens,lm_head to --lora_target_modules")
    checkpointing = bool(training_args.activation_checkpointing)
    if method == "qlora" and not sharded:
        # Casts the few unquantized weights (norms, embeddings) to fp32 for stable training.
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs=training_args.activation_checkpointing_kwargs)
    elif checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    config = peft_config(lora_args, targets)
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        raise StageError(f"LoRA: {exc}. The model's modules: {describe_modules(model)}") from exc
    if not grew:
        # With embed_tokens/lm_head among the targets PEFT would also save the base embedding
        # matrices (frozen, so unchanged): only needed where added tokens grew them.
        model.save_pretrained = functools.partial(model.save_pretrained, save_embedding_layers=False)
    if sharded:
        # FSDP flattens parameters of one dtype together: adapters take the base's dtype.
        dtype = weights_dtype(method, training_args)
        for param in model.parameters():
            if param.requires_grad:
                param.data = param.data.to(dtype)
    return model
