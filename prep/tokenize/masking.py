"""Token ids and labels for one example: BOS, EOS, masking, truncation, packing.

These functions see token ids only (no tokenizer, no text), so that the rules that decide
what a model is trained on live in one small place and are easy to test:

- Supervised: ``[BOS] + input + output + [EOS]``; labels are -100 over BOS and input
  (unless ``train_on_source``) and equal the tokens elsewhere. The EOS ends every example
  exactly once and keeps its id as label, also where pad == eos (the collator must not mask
  pad ids). Over-long examples lose the *start* of their input; the output is never cut
  (except by ``target_max_len``); where it alone does not fit the example is dropped.
- Text: ``[BOS] + text + [EOS]``, labels = input_ids, cut from the right at max_length;
  or packed: documents concatenated and cut into max_length blocks.

BOS means "whatever the tokenizer puts before a text when it adds special tokens", found by
encoding a probe with and without them (``detect_specials``), never by token names.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from prep.core.errors import StageError

IGNORE = -100  # the label value PyTorch's cross-entropy skips
PROBE = "Hello world"


@dataclass(frozen=True)
class Specials:
    """The ids an example is framed with."""
    prefix: tuple[int, ...]  # what the tokenizer adds before a text (its BOS), () if nothing
    eos_id: int
    bos_id: int | None = None
    pad_id: int | None = None


@dataclass(frozen=True)
class Drop:
    """An example that cannot be built: ``reason`` is counted, ``detail`` goes to the rejects."""
    reason: str
    detail: str


def detect_specials(tokenizer) -> Specials:
    """Which ids the tokenizer adds around a text, from encoding a probe both ways."""
    if tokenizer.eos_token_id is None:
        raise StageError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no EOS token; set "
                         "eos_token in its tokenizer_config.json (examples must end with one)")
    plain = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    framed = tokenizer(PROBE, add_special_tokens=True)["input_ids"]
    prefix: tuple[int, ...] = ()
    for start in range(len(framed) - len(plain) + 1):
        if framed[start:start + len(plain)] == plain:
            prefix = tuple(framed[:start])
            break
    return Specials(prefix=prefix, eos_id=tokenizer.eos_token_id, bos_id=tokenizer.bos_token_id,
                    pad_id=tokenizer.pad_token_id)


def strip_bos(ids: list[int], sp: Specials, counters: Counter) -> list[int]:
    """Remove a BOS the text itself carried ("<s>..." in the data): it is added once, here."""
    n = len(sp.prefix)
    if n and ids[:n] == list(sp.prefix):
        counters["bos_in_text_removed"] += 1
        return ids[n:]
    return ids


def strip_eos(ids: list[int], sp: Specials, counters: Counter) -> list[int]:
    """Remove an EOS the text already ends with ("...</s>" in the data): it is added once, here."""
    if ids and ids[-1] == sp.eos_id:
        counters["eos_in_text_removed"] += 1
        return ids[:-1]
    return ids


def strip_frame(ids: list[int], sp: Specials, counters: Counter) -> list[int]:
    return strip_eos(strip_bos(ids, sp, counters), sp, counters)


def build_supervised(inp: list[int], out: list[int], sp: Specials, config, counters: Counter):
    """(input_ids, labels) for one input/output pair, or a ``Drop``.

    ``config`` carries max_length, train_on_source, source_max_len (caps BOS + input) and
    target_max_len (caps output + EOS), as in ``TokenizeConfig``.
    """
    inp, out = strip_bos(inp, sp, counters), strip_eos(out, sp, counters)
    if not inp:
        return Drop("empty-input", "the input holds no tokens")
    if not out:
        return Drop("empty-output", "the output holds no tokens besides special ones")
    bos = list(sp.prefix)
    cut_input = False
    if config.source_max_len is not None and len(bos) + len(inp) > config.source_max_len:
        inp = inp[len(inp) - max(config.source_max_len - len(bos), 1):]  # keep the end of the input
        cut_input = True
    if config.target_max_len is not None and len(out) + 1 > config.target_max_len:
        out = out[:max(config.target_max_len - 1, 1)]  # keep the start of the output
        counters["truncated_output"] += 1
    fixed = len(bos) + len(out) + 1
    if fixed + 1 > config.max_length:  # at least one input token must remain
        return Drop("output-too-long",
                    f"BOS {len(bos)} + output {len(out)} + EOS 1 = {fixed} tokens leave no room for the "
                    f"input ({len(inp)} tokens) within max_length {config.max_length}")
    if fixed + len(inp) > config.max_length:
        inp = inp[len(inp) - (config.max_length - fixed):]
        cut_input = True
    counters["truncated_input"] += int(cut_input)
    ids = bos + inp + out + [sp.eos_id]
    if config.train_on_source:
        return ids, list(ids)
    return ids, [IGNORE] * (len(bos) + len(inp)) + out + [sp.eos_id]


def build_text(ids: list[int], sp: Specials, config, counters: Counter):
    """One unpacked text example; cut from the right (without its EOS) when too long."""
    ids = strip_frame(ids, sp, counters)
    if not ids:
        return Drop("empty-text", "the text holds no tokens besides special ones")
    ids = list(sp.prefix) + ids + [sp.eos_id]
    if len(ids) > config.max_length:
        counters["truncated_text"] += 1
        counters["truncated_text_tokens"] += len(ids) - config.max_length
        ids = ids[:config.max_length]
    return ids, list(ids)


def text_document(ids: list[int], sp: Specials, counters: Counter):
    """One document of a pack: ``[BOS] + text + [EOS]`` at any length, or a ``Drop``."""
    ids = strip_frame(ids, sp, counters)
    if not ids:
        return Drop("empty-text", "the text holds no tokens besides special ones")
    return list(sp.prefix) + ids + [sp.eos_id]


class Packer:
    """Concatenates documents and hands out full blocks of ``block`` tokens.

    The last, partial block comes from ``finish()``: it is kept (it holds real tokens) and
    its size is reported, never dropped silently.
    """

    def __init__(self, block: int):
        self.block = block
        self.buffer: list[int] = []
        self.documents = 0

    def add(self, document: list[int]) -> list[list[int]]:
        self.documents += 1
        self.buffer.extend(document)
        full = len(self.buffer) // self.block
        blocks = [self.buffer[i * self.block:(i + 1) * self.block] for i in range(full)]
        if full:
            self.buffer = self.buffer[full * self.block:]
        return blocks

    def finish(self) -> list[list[int]]:
        rest, self.buffer = self.buffer, []
        return [rest] if rest else []
