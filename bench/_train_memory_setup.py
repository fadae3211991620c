"""bench/train_memory.py: the model, the data and each row's command line.

The model is a Llama built from a config with random weights, saved once in bf16 with a
tiny tokenizer (about 300 tokens, so it fits any vocabulary here; the data are token ids).
A row's argv is what a user would pass to the entry point (``python -m train.hf_trainer``
or ``python -m train.qlora``), with each entry point's own defaults for the rest.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

LLAMA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=8192, vocab_size=32000)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128)  # vocabulary: the tiny tokenizer's
# mode -> examples per step, tokens per example, warm-up steps, timed steps (--quick halves timed)
SIZES = {"gpu": dict(batch=4, seq_len=1024, warmup=3, steps=10),
         # Two warm-up steps: the CPU meter watches the warm-up, and on the first step the optimizer
         # states do not exist yet when the loss-backward peak comes (on CUDA they always do).
         "cpu": dict(batch=2, seq_len=64, warmup=2, steps=2)}
METHODS = {
    "lora": {"label": "LoRA bf16", "entry": "hf_trainer", "optim": "adamw_torch", "data": "--train_file",
             "rank": "--lora_rank",
             "flags": ["--use_lora", "--lora_target_modules", "all-linear", "--bf16", "true"]},
    "qlora": {"label": "QLoRA nf4", "entry": "qlora", "optim": "paged_adamw_32bit", "data": "--dataset",
              "rank": "--lora_r",
              "flags": ["--bits", "4", "--double_quant", "true", "--quant_type", "nf4",
                        "--lora_target_modules", "all-linear", "--bf16", "true", "--eval_dataset_size", "0",
                        "--gradient_accumulation_steps", "1"]},
}


def build_model(folder: Path, shape_name: str, layers: int | None, seq_len: int) -> dict:
    """A random bf16 Llama and a tokenizer saved in ``folder``; returns the config's shape and count."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    sys.path.insert(0, str(HERE.parent / "tests"))
    from tiny import make_tokenizer

    tokenizer = make_tokenizer(folder, "bos_eos")  # ~300 tokens: fits any vocabulary here
    shape = dict(LLAMA_1B) if shape_name == "llama-1b" else {**TINY, "vocab_size": len(tokenizer)}
    if layers:
        shape["num_hidden_layers"] = layers
    config = LlamaConfig(**shape, max_position_embeddings=max(4096, seq_len), tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = model.num_parameters()
    model.save_pretrained(folder)
    del model
    return {"shape": shape, "params": params}


def write_data(path: Path, rows: int, seq_len: int, vocab: int) -> None:
    """``rows`` examples of exactly ``seq_len`` random ids (clear of the special ids below 10)."""
    import numpy as np

    from prep.tokenize.arrow_io import write_arrow

    ids = np.random.default_rng(0).integers(10, vocab, size=(rows, seq_len)).tolist()
    write_arrow(({"input_ids": row, "labels": row} for row in ids), path)


def row_spec(method: str, checkpointing: bool, args, size: dict, work: Path, device: str) -> dict:
    m = METHODS[method]
    name = f"{method}-{'ckpt' if checkpointing else 'nockpt'}"
    argv = ["--model_name_or_path", str(work / "model"), m["data"], str(work / "train.arrow"),
            "--output_dir", str(work / name), *m["flags"], m["rank"], str(args.lora_rank),
            "--optim", m["optim"], "--per_device_train_batch_size", str(size["batch"]),
            "--max_steps", str(size["warmup"] + size["steps"]),
            "--activation_checkpointing", str(checkpointing).lower(), "--logging_steps", "1",
            "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"]
    if args.lora_dropout is not None:
        argv += ["--lora_dropout", str(args.lora_dropout)]
    return {"name": name, "method": method, "checkpointing": checkpointing, "entry": m["entry"], "argv": argv,
            "device": device, "warmup": size["warmup"], "track": not args.no_live_bytes,
            "tokens_per_step": size["batch"] * size["seq_len"]}
