"""--packing padding-free: a batch's examples concatenated into one row, with no padding.

The row carries ``position_ids`` that restart at 0 at each example and no attention_mask.
transformers reads example boundaries from those positions: with flash_attention_2 it runs
the variable-length kernel over them (``cu_seq_lens`` are also passed, so it need not work
them out), and with sdpa/eager its mask builder (masking_utils.find_packed_sequence_indices)
makes a block-diagonal causal mask, so attention stays inside each example either way.

Labels keep their values except the first position of each example, which becomes -100:
the model shifts labels by one, so that position would otherwise be predicted from the end
of the previous example. Every other target is exactly what the padded batch trains on, and
the loss (a mean over label tokens) is the same number.

The model must run without its KV cache (``prepare_model``): transformers looks for packed
positions only when no cache is passed, and a causal LM makes one by default.
"""
from __future__ import annotations

from dataclasses import dataclass

from transformers import DataCollatorWithFlattening

from train.lm.collate import IGNORE_INDEX, PadCollator

PACKING_MODES = ("padding-free",)


@dataclass
class PaddingFreeCollator:
    """Features with input_ids (and labels) -> one (1, total_tokens) row with position_ids.

    ``labels_from_input_ids``: train on every token (--uft), ignoring any labels column.
    ``flash_kwargs``: also return cu_seq_lens_q/k and max_length_q/k for the flash kernel.
    """
    labels_from_input_ids: bool = False
    flash_kwargs: bool = False

    def __post_init__(self):
        self._flatten = DataCollatorWithFlattening(return_flash_attn_kwargs=self.flash_kwargs,
                                                   separator_id=IGNORE_INDEX)

    def __call__(self, features: list[dict]) -> dict:
        def ids(value):
            return value.tolist() if hasattr(value, "tolist") else list(value)

        keep_labels = not self.labels_from_input_ids and "labels" in features[0]
        slim = [{"input_ids": ids(f["input_ids"]), **({"labels": ids(f["labels"])} if keep_labels else {})}
                for f in features]
        return self._flatten(slim, return_tensors="pt")


def prepare_model(model) -> None:
    """Turn the KV cache off (training never uses it; with it on, packed examples see each other)."""
    config = getattr(model, "config", None)
    if config is not None:
        config.use_cache = False


def real_tokens(batch: dict) -> int:
    """Tokens of the examples in a batch, padding not counted."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


def make_collator(packing: str | None, pad_token_id: int, pad_to_multiple_of: int = 8,
                  labels_from_input_ids: bool = False, attn_implementation: str = "sdpa"):
    """The collator for --packing (None or "none": pad each batch to its longest example)."""
    if packing in (None, "", "none"):
        return PadCollator(pad_token_id, pad_to_multiple_of, labels_from_input_ids)
    makers = {"padding-free": lambda: PaddingFreeCollator(
        labels_from_input_ids, flash_kwargs=attn_implementation == "flash_attention_2")}
    return makers[packing]()
