"""The library part of `prep tokenize`: records to masked examples, with the config and the tokenizer loader."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from prep.core.errors import StageError
from prep.tokenize.batches import Encoder, encode_batches
from prep.tokenize.chat import template_text
from prep.tokenize.formats import FORMATS, PromptFormat, resolve
from prep.tokenize.masking import Drop, Packer
from prep.tokenize.modes import MODES, job, special_tokens_guard


@dataclass
class TokenizeConfig:
    max_length: int = 2048
    train_on_source: bool = False
    mode: str = "auto"             # auto|text|supervised|chat; auto: as prep.core.shapes reads the record
    pack: bool = False             # text records: join documents, cut into max_length blocks
    source_max_len: int | None = None  # caps BOS + input (tokens), keeping the end of the input
    target_max_len: int | None = None  # caps output + EOS (tokens), keeping the start of the output
    add_special_tokens: tuple[str, ...] = ()
    num_proc: int = 1              # encode_records' worker processes; 1 runs inline (the stage: --workers)
    batch_size: int = 1000         # records per tokenizer call and per worker task
    prompt_format: str = "auto"    # auto|chat|alpaca|raw|template (prep.tokenize.formats)
    system_prompt: str = "none"    # none|template-default|the system text
    template: str | None = None    # the text of --template-file
    allow_special_tokens: bool = False  # keep records whose text holds the tokenizer's special tokens

    def __post_init__(self):
        if self.mode not in MODES:
            raise StageError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.max_length < 3:
            raise StageError(f"max_length {self.max_length} is too small (BOS + a token + EOS need 3)")
        for name in ("source_max_len", "target_max_len"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise StageError(f"{name} {value} is too small (at least 2 tokens)")
        if self.batch_size < 1 or self.num_proc < 1:
            raise StageError("batch_size and num_proc must be at least 1")
        if self.prompt_format not in FORMATS:
            raise StageError(f"prompt format {self.prompt_format!r} is not one of {', '.join(FORMATS)}")
        self.add_special_tokens = tuple(self.add_special_tokens)


def load_tokenizer(path: str, add_special_tokens: Iterable[str] = ()):
    """A fast tokenizer from a local folder, or a hub id already in the local cache; never downloads."""
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        if not Path(path).exists():
            raise StageError(f"tokenizer {str(path)!r}: no such folder, and no model of that name in the local "
                             "hub cache; nothing is downloaded at run time: pass a folder holding "
                             "tokenizer.json (the model's folder; `tunesmith models smollm2` makes the default "
                             "one)") from None
        raise StageError(f"cannot load a tokenizer from {str(path)!r}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise StageError(f"{path}: only a slow tokenizer is available; a fast one (tokenizer.json) is needed")
    extra = [t for t in add_special_tokens if t]
    if extra:
        tokenizer.add_tokens(extra, special_tokens=True)  # never split, one id each
    return tokenizer


def prompt_format(tokenizer, config: TokenizeConfig) -> PromptFormat:
    return resolve(tokenizer, config.prompt_format, config.system_prompt, config.template)


def _batches(records: Iterable[dict], config: TokenizeConfig, tokenizer, counters: Counter):
    """(records, jobs-or-drops) per batch, with only the jobs sent to the encoder."""
    has_template = template_text(tokenizer) is not None
    fmt = prompt_format(tokenizer, config)
    guard = special_tokens_guard(tokenizer, config.add_special_tokens, check=not config.allow_special_tokens)
    items, preps = [], []
    for record in records:
        prep = job(record, config.mode, counters, fmt, guard)
        if not has_template and not isinstance(prep, Drop) and prep[0] == "chat":
            raise StageError(f"chat records (messages) need a chat template and tokenizer "
                             f"{getattr(tokenizer, 'name_or_path', '')!r} has none: pass --mode supervised "
                             "(trains on the last assistant turn) or a tokenizer with a chat template")
        items.append(record)
        preps.append(prep)
        if len(items) >= config.batch_size:
            yield (items, preps), [p for p in preps if not isinstance(p, Drop)]
            items, preps = [], []
    if items:
        yield (items, preps), [p for p in preps if not isinstance(p, Drop)]


def encode_records(records: Iterable[dict], tokenizer, config: TokenizeConfig,
                   counters: Counter | None = None, *,
                   on_drop: Callable[[dict, str, str], None] | None = None,
                   on_keep: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """Examples ``{"input_ids", "labels"}`` (plus the record's ``"id"`` unless packed), in order.

    A record that cannot be used goes to ``on_drop(record, reason, detail)`` (the signature
    of ``Stage.drop``) and is counted as ``counters["dropped:REASON"]``; one that is used
    goes to ``on_keep(record)``. Truncations and other events are counted in ``counters``.
    """
    counters = Counter() if counters is None else counters
    encoder = Encoder(tokenizer, config)
    packer = Packer(config.max_length) if config.pack else None
    for (items, preps), results, batch_counts in encode_batches(
            encoder, _batches(records, config, tokenizer, counters), config.num_proc):
        counters.update(batch_counts)
        built = iter(results)
        for record, prep in zip(items, preps):
            result = prep if isinstance(prep, Drop) else next(built)
            if isinstance(result, Drop):
                counters[f"dropped:{result.reason}"] += 1
                if on_drop is not None:
                    on_drop(record, result.reason, result.detail)
                continue
            if on_keep is not None:
                on_keep(record)
            kind, ids, labels = result
            if kind != "doc":
                yield {"input_ids": ids, "labels": labels, "id": record.get("id")}
                continue
            counters["packed_documents"] += 1
            for block in packer.add(ids):
                counters["pack_blocks"] += 1
                yield {"input_ids": block, "labels": list(block)}
    for block in packer.finish() if packer else ():
        counters["pack_blocks"] += 1
        counters["pack_last_block_tokens"] = len(block)
        yield {"input_ids": block, "labels": list(block)}
