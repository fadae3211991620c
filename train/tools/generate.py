"""Answer a prompt with a model, or with a model plus a LoRA adapter: a quick look at a tuning.

  tunesmith models generate --model M [--adapter RUN_DIR] --prompt "..." [--max-new-tokens 64]

Uses the tokenizer's chat template when it has one (the prompt becomes one user turn, with the
system prompt chosen as `prep tokenize --system-prompt` chooses it, so that the model is asked as
it was trained), else the raw prompt; greedy decoding, so the same model and prompt give the same
answer.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from prep.core.errors import StageError
from prep.tokenize.formats import resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--model_name_or_path", dest="model", required=True,
                        help="model folder (or a hub id in the local cache)")
    parser.add_argument("--adapter", default=None,
                        help="a LoRA adapter folder (adapter_config.json) to apply on top of --model")
    parser.add_argument("--prompt", required=True, help="the question or instruction")
    parser.add_argument("--max-new-tokens", "--max_new_tokens", dest="max_new_tokens", type=int, default=64,
                        help="tokens to generate at most")
    parser.add_argument("--system-prompt", "--system_prompt", dest="system_prompt", default="none",
                        metavar="TEXT|none|template-default",
                        help="the system message, as `prep tokenize --system-prompt` takes it: none keeps a "
                        "template's own default system text out")
    parser.add_argument("--no-chat-template", dest="chat_template", action="store_false",
                        help="feed the prompt as raw text even when the tokenizer has a chat template")


def load(model_path: str, adapter: str | None):
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer_source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else model_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
    except OSError as exc:
        raise StageError(f"cannot load {model_path!r}: {str(exc).splitlines()[0]}") from exc
    if adapter:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").is_file():
            raise StageError(f"--adapter {adapter}: no adapter_config.json there")
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), tokenizer


def answer(model, tokenizer, prompt: str, max_new_tokens: int, chat_template: bool = True,
           system_prompt: str = "none") -> str:
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    if chat_template and tokenizer.chat_template:
        _, messages = resolve(tokenizer, "chat", system_prompt).chat([{"role": "user", "content": prompt}])
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
    else:
        inputs = tokenizer(prompt, return_tensors="pt")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def run(args: argparse.Namespace) -> int:
    model, tokenizer = load(args.model, args.adapter)
    print(answer(model, tokenizer, args.prompt, args.max_new_tokens, args.chat_template, args.system_prompt))
    return 0
