"""Checks on tokenized examples: what `prep inspect` runs on every row.

Each check takes one row and the file's context and returns a problem (a short text) or
None. Labels are compared position by position with input_ids: the label at position i is
-100 or the token at i (the model shifts them by one itself).
"""
from __future__ import annotations

from dataclasses import dataclass

from prep.tokenize.masking import IGNORE


@dataclass
class Context:
    eos_id: int
    bos_id: int | None = None
    max_length: int | None = None
    packed: bool = False        # packed blocks end wherever the cut falls, not on EOS


@dataclass
class Row:
    ids: list[int]
    labels: list[int]
    length: int | None          # the length column, None where the file has none


def labels_length(row: Row, ctx: Context):
    if len(row.labels) != len(row.ids):
        return f"{len(row.labels)} labels for {len(row.ids)} tokens"
    return None


def length_column(row: Row, ctx: Context):
    if row.length is not None and row.length != len(row.ids):
        return f"length column says {row.length}, the row holds {len(row.ids)} tokens"
    return None


def empty(row: Row, ctx: Context):
    return "no tokens" if not row.ids else None


def label_alignment(row: Row, ctx: Context):
    for i, (token, label) in enumerate(zip(row.ids, row.labels)):
        if label != IGNORE and label != token:
            return f"position {i}: label {label} is neither -100 nor the token {token}"
    return None


def fully_masked(row: Row, ctx: Context):
    if row.labels and all(label == IGNORE for label in row.labels):
        return "every label is -100: nothing to train on"
    return None


def too_long(row: Row, ctx: Context):
    if ctx.max_length is not None and len(row.ids) > ctx.max_length:
        return f"{len(row.ids)} tokens > max length {ctx.max_length}"
    return None


def _may_end_anywhere(row: Row, ctx: Context) -> bool:
    """A fully trained row that is a packed block, or a text cut at max length."""
    if any(label == IGNORE for label in row.labels):
        return False  # supervised or chat: must end with a trained EOS
    return ctx.packed or (ctx.max_length is not None and len(row.ids) == ctx.max_length)


def ends_with_eos(row: Row, ctx: Context):
    if not row.ids or row.ids[-1] == ctx.eos_id or _may_end_anywhere(row, ctx):
        return None
    return f"last token {row.ids[-1]} is not EOS {ctx.eos_id}"


def eos_trained(row: Row, ctx: Context):
    if row.ids and row.ids[-1] == ctx.eos_id and row.labels and row.labels[-1] == IGNORE:
        return "the final EOS has label -100: the model never learns to stop"
    return None


def eos_inside(row: Row, ctx: Context):
    """A trained EOS must end an answer: the next token is untrained or there is none.

    Multi-turn chats train one EOS per assistant turn, each followed by the next prompt; an EOS
    the data carried inside an answer ("mid<|im_end|>dle", or two at the end) is followed by a
    trained token and teaches the model to stop early. Packed blocks join documents with EOS.
    """
    if ctx.packed:
        return None
    inside = [i for i in range(len(row.ids) - 1)
              if row.ids[i] == ctx.eos_id and row.labels[i] != IGNORE and row.labels[i + 1] != IGNORE]
    return f"EOS trained inside an answer at position(s) {inside[:5]}" if inside else None


def trained_eos(row: Row, ctx: Context) -> int:
    return sum(1 for token, label in zip(row.ids, row.labels) if token == ctx.eos_id and label != IGNORE)


def double_bos(row: Row, ctx: Context):
    if ctx.bos_id is not None and row.ids[:2] == [ctx.bos_id, ctx.bos_id]:
        return "starts with BOS twice"
    return None


# Run in this order; the first three make the others meaningless when they fail.
CHECKS = {
    "empty": empty,
    "labels-length": labels_length,
    "length-column": length_column,
    "label-alignment": label_alignment,
    "fully-masked": fully_masked,
    "too-long": too_long,
    "no-eos": ends_with_eos,
    "eos-masked": eos_trained,
    "eos-inside": eos_inside,
    "double-bos": double_bos,
}
STRUCTURAL = ("empty", "labels-length")


def check_row(row: Row, ctx: Context) -> list[tuple[str, str]]:
    """[(check name, problem)] for one row; empty when the row passes everything."""
    problems = []
    for name, check in CHECKS.items():
        problem = check(row, ctx)
        if problem is not None:
            problems.append((name, problem))
            if name in STRUCTURAL:
                break
    return problems
