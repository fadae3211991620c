"""Batches: a dynamic-padding collator and a length-grouped, epoch-seeded sampler.

Padding is decided from each example's length, never by comparing token ids with the pad
id: where pad == EOS (many recipes set it so) the EOS at the end of an example is still
attended to and trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE_INDEX = -100  # label value the loss skips (PyTorch cross_entropy's ignore_index)
# Examples per megabatch, in batches: sorting inside windows of 50 batches groups lengths
# well while keeping the epoch order random.
MEGABATCH_BATCHES = 50


@dataclass
class PadCollator:
    """Pads input_ids with ``pad_token_id``, labels with -100; builds attention_mask.

    ``labels_from_input_ids``: train on every token (--uft), ignoring any labels column.
    Extra columns (length, id, attention_mask from older files) are left out.
    """
    pad_token_id: int
    pad_to_multiple_of: int = 8
    labels_from_input_ids: bool = False

    def __call__(self, features: list[dict]) -> dict:
        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of and self.pad_to_multiple_of > 1:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        size = (len(features), longest)
        input_ids = torch.full(size, self.pad_token_id, dtype=torch.long)
        labels = torch.full(size, IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros(size, dtype=torch.long)
        for row, feature in enumerate(features):
            ids = torch.as_tensor(feature["input_ids"], dtype=torch.long)
            n = len(ids)
            input_ids[row, :n] = ids
            attention_mask[row, :n] = 1
            source = ids if self.labels_from_input_ids else feature["labels"]
            labels[row, :n] = torch.as_tensor(source, dtype=torch.long)
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


class LengthGroupedSampler:
    """Every index once per epoch, in batches of similar length, order seeded by (seed, epoch).

    A seeded permutation is cut into megabatches; each is sorted longest first and cut into
    batches; the full batches are shuffled, and the one holding the longest example goes first
    (an out-of-memory error then shows at step 1, not hours in). The order depends only on
    the seed and the epoch, so a resumed run skips exactly the batches it already saw.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths = [int(n) for n in lengths]
        self.batch_size = max(1, int(batch_size))
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        mega = self.batch_size * MEGABATCH_BATCHES
        batches = []
        for start in range(0, len(order), mega):
            window = sorted(order[start:start + mega], key=lambda i: -self.lengths[i])
            batches += [window[i:i + self.batch_size] for i in range(0, len(window), self.batch_size)]
        # Only the epoch's last batch can be short; it stays last so that the DataLoader,
        # which re-cuts this flat order into batch_size chunks, sees the same batches.
        tail = [batches.pop()] if batches and len(batches[-1]) < self.batch_size else []
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        if shuffled:
            longest = max(range(len(shuffled)), key=lambda b: max(self.lengths[i] for i in shuffled[b]))
            shuffled.insert(0, shuffled.pop(longest))
        return shuffled + tail

    def __iter__(self):
        for batch in self.batches():
            yield from batch
