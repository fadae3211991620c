"""Greedy generation on the model being trained, and the text summaries for TensorBoard/W&B."""
from __future__ import annotations

import torch
from transformers import GenerationConfig
from transformers.integrations import TensorBoardCallback, WandbCallback


def _config(tokenizer, max_new_tokens: int) -> GenerationConfig:
    """Greedy, stopping at the EOS the training examples end with. A fresh config, not the
    model's: a hub model's sampling defaults (temperature, top_p) would make samples random."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                            eos_token_id=tokenizer.eos_token_id, pad_token_id=pad, use_cache=True)


def special_ids(tokenizer) -> set[int]:
    """Every special token id (named ones and added ones such as chat turn markers)."""
    added = {i for i, tok in getattr(tokenizer, "added_tokens_decoder", {}).items() if tok.special}
    return set(tokenizer.all_special_ids) | added


def _fit(ids: list[int], model, max_new_tokens: int) -> list[int]:
    """The prompt less its start where it and the answer would pass the model's positions (as
    training cuts the start of a long input); past them the model's output means nothing."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(limit, int) or len(ids) + max_new_tokens <= limit:
        return ids
    return ids[max(len(ids) - (limit - max_new_tokens), 0):]


def generate(model, tokenizer, encoded: list[tuple[list[int], str]], max_new_tokens: int) -> list[dict]:
    """One result per prompt: generation text (special tokens kept, the final EOS left off),
    tokens generated, stopped_at_eos, stray_special_tokens, prompt_tokens_cut. The model's mode is restored."""
    config = _config(tokenizer, max_new_tokens)
    eos, specials = tokenizer.eos_token_id, special_ids(tokenizer) - {tokenizer.eos_token_id}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for ids, _ in encoded:
                kept = _fit(ids, model, max_new_tokens)
                inputs = torch.tensor([kept], device=device)
                out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                     generation_config=config)
                new = out[0, len(kept):].tolist()
                stopped = bool(new) and new[-1] == eos
                body = new[:-1] if stopped else new
                results.append({"generation": tokenizer.decode(body, skip_special_tokens=False),
                                "tokens": len(new), "stopped_at_eos": stopped,
                                "stray_special_tokens": sum(t in specials for t in body),
                                "prompt_tokens_cut": len(ids) - len(kept)})
    finally:
        if was_training:
            model.train()
    return results


def _markdown(record: dict) -> str:
    prompt = record["prompt"] if isinstance(record["prompt"], str) else "\n".join(
        f"{m['role']}: {m['content']}" for m in record["prompt"])
    end = "EOS" if record["stopped_at_eos"] else "no EOS"
    # Code blocks: TensorBoard renders markdown, which would eat turn markers such as <|user|>.
    return (f"**prompt**\n\n```\n{prompt}\n```\n\n**generation** ({record['tokens']} tokens, {end})\n\n"
            f"```\n{record['generation']}\n```")


def log_text(trainer, records: list[dict], step: int) -> None:
    """The samples as text where TensorBoard or W&B logging is on (found among the Trainer's callbacks)."""
    if trainer is None:
        return
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and getattr(callback, "tb_writer", None) is not None:
            for record in records:
                callback.tb_writer.add_text(f"samples/prompt_{record['index'] + 1}", _markdown(record), step)
            callback.tb_writer.flush()
        if isinstance(callback, WandbCallback) and getattr(callback, "_initialized", False):
            columns = ["step", "index", "prompt", "generation", "tokens", "stopped_at_eos"]
            table = callback._wandb.Table(columns=columns, data=[[str(r[c]) if c == "prompt" else r[c]
                                                                  for c in columns] for r in records])
            callback._wandb.log({"samples": table, "train/global_step": step})
