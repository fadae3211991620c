"""Sample prompts laid out exactly as the training examples were, up to where the answer starts.

The layout comes from the training data: the settings `prep tokenize` stored in an Arrow file's
schema, or for JSONL the runner's own flags (--prompt_format, --system_prompt, --template_file,
--dataset_format), read by the same functions as the training data path. Each prompt is turned
into a training record whose answer is a placeholder and sent through prep.tokenize.modes.job,
so the chat template, the Alpaca prompt, the system-prompt choice and the mode conversions are
the training code's, not a copy: what comes before the placeholder is what the model saw before
every answer it learned.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from prep.core.errors import StageError
from prep.core.records import read_records
from prep.core.shapes import Unusable, alpaca_template, kind
from prep.tokenize.arrow_io import read_metadata
from prep.tokenize.formats import PromptFormat, resolve
from prep.tokenize.masking import Drop, detect_specials
from prep.tokenize.modes import job
from train.lm.data import FORMATS, prompt_settings, source_kind

# Stands for the answer; a private-use character no prompt or template writes.
PLACEHOLDER = "\ue000answer\ue000"
# --dataset_format values whose records are plain text (a dialogue written out): prompts continue text.
TEXT_FORMATS = ("text", "hh-rlhf", "oasst1")


@dataclass
class Layout:
    """How the training examples were laid out: the tokenize mode and prompt format."""
    mode: str
    fmt: PromptFormat
    alpaca_first: bool = False  # --dataset_format alpaca wrote the Alpaca prompt before formatting
    source: str = ""

    def describe(self) -> str:
        what = "plain text" if self.mode == "text" else f"{self.fmt.name} format"
        return f"{what} ({self.source})"


def _first_record(spec: str) -> dict | None:
    return next((item.record for item in read_records(spec) if item.record is not None), None)


def training_layout(tokenizer, data_args) -> Layout:
    """The layout of the training data named by ``data_args``."""
    spec = data_args.train_file or data_args.dataset
    if spec and source_kind(spec) == "arrow":
        meta = read_metadata(spec)
        if not meta:  # the guide's Pygmalion files: ids only, the prompt written raw into the text
            return Layout("auto", PromptFormat("raw"), source=f"{spec} has no tokenizer settings: raw prompts")
        fmt = resolve(tokenizer, meta.get("prompt_format", "auto"), meta.get("system_prompt", "none"),
                      meta.get("template"))
        mode = "text" if meta.get("packed") else meta.get("mode", "auto")
        return Layout(mode, fmt, source=f"as stored in {spec}")
    settings = prompt_settings(data_args)
    fmt = resolve(tokenizer, settings["prompt_format"], settings["system_prompt"], settings["template"])
    data_format = data_args.dataset_format or "input-output"
    first = _first_record(spec) if spec else None
    texts = data_format in TEXT_FORMATS or (first is not None and kind(FORMATS[data_format](first)) == "text")
    return Layout("text" if texts else "auto", fmt, data_format in ("alpaca", "alpaca-clean"),
                  source=f"as {spec} is tokenized")


def _job(prompt, layout: Layout):
    record = prompt.record(PLACEHOLDER)
    if layout.alpaca_first and prompt.messages is None:
        record = {"input": alpaca_template(*prompt.parts), "output": PLACEHOLDER}
    try:
        built = job(record, layout.mode, Counter(), layout.fmt)
    except Unusable as exc:
        raise StageError(f"{prompt.where}: {exc.detail}") from None
    if isinstance(built, Drop):
        raise StageError(f"{prompt.where}: cannot be laid out as the training data ({built.reason}: {built.detail})")
    return built


def prompt_text(prompt, layout: Layout, tokenizer) -> tuple[str, bool]:
    """(text before the answer, whether the tokenizer's BOS still goes in front of it)."""
    built = _job(prompt, layout)
    if built[0] == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise StageError(f"{prompt.where}: a chat prompt, and the tokenizer has no chat template")
        text = tokenizer.apply_chat_template(built[1][:-1], tokenize=False, add_generation_prompt=True)
        return text, False  # the template writes its own BOS, as in training
    if built[0] == "supervised":
        return built[1], True
    return built[1].split(PLACEHOLDER, 1)[0], True


def encode(prompts: list, tokenizer, layout: Layout) -> list[tuple[list[int], str]]:
    """(input ids, rendered text) per prompt, framed as the training examples were."""
    prefix = list(detect_specials(tokenizer).prefix)
    out = []
    for prompt in prompts:
        text, add_bos = prompt_text(prompt, layout, tokenizer)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if prefix and ids[:2 * len(prefix)] == prefix * 2:  # a template that writes BOS twice, as training fixes
            ids = ids[len(prefix):]
        if add_bos and ids[:len(prefix)] != prefix:
            ids = prefix + ids
        out.append((ids, text))
    return out
