"""Data for --task seq-cls: labelled splits, the label map, tokenization, and the batch collator.

Texts and labels are read with train/labelled.py (JSONL with a text and a label, or a text
file with a labels file beside it). ``--data_dir`` takes the seed's layout: a folder holding
a training split and a validation split, found by name (``train.*``; ``validation.*``,
``valid.*``, ``val.*``, ``dev.*`` or ``eval.*``), each as JSONL or as text + labels files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from prep.core.errors import StageError
from train.heads import labelled

TRAIN_NAMES = ("train",)
EVAL_NAMES = ("validation", "valid", "val", "dev", "eval")
# How a split's file may be named in --data_dir, most specific first.
SPLIT_FILES = ("{}.jsonl", "{}.json", "{}.txt", "{}_texts.txt", "{}_text.txt", "{}.tsv")


def find_split(directory: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for pattern in SPLIT_FILES:
            path = directory / pattern.format(name)
            if path.is_file():
                return path
    return None


def split_files(data_dir: str | None, train_file: str | None, eval_file: str | None) -> tuple[str, str | None]:
    """(train spec, eval spec or None): the files named, else the ones found in ``data_dir``."""
    if data_dir is not None:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise StageError(f"--data_dir {data_dir}: no such folder")
        found = find_split(directory, TRAIN_NAMES)
        if train_file is None and found is None:
            names = ", ".join(sorted(p.name for p in directory.iterdir())) or "nothing"
            raise StageError(f"--data_dir {data_dir}: no training split (train.jsonl, or train.txt with "
                             f"train.labels); it holds: {names}")
        train_file = train_file or str(found)
        eval_file = eval_file or (str(p) if (p := find_split(directory, EVAL_NAMES)) else None)
    if train_file is None:
        raise StageError("no training data: pass --train_file FILE or --data_dir DIR")
    return train_file, eval_file


def label_map(labels: list) -> list:
    """The classes, sorted (numbers numerically, else as text): id i is ``classes[i]``."""
    values = set(labels)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    classes = sorted(values) if numeric else sorted(values, key=str)
    if len(classes) < 2:
        raise StageError(f"the training data has {len(classes)} class ({classes}); a classifier needs two or more")
    return classes


class ByteTokenizer:
    """UTF-8 bytes as tokens, for encoders trained from scratch without a tokenizer of their own.

    Ids: 0 pad, 1 start (the pooled first token), 2 end, 3 + byte value.
    """
    pad_token_id, cls_token_id, sep_token_id, offset = 0, 1, 2, 3
    vocab_size = 256 + 3

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, max_length: int) -> list[int]:
        body = [b + self.offset for b in text.encode("utf-8")][: max(0, max_length - 2)]
        return [self.cls_token_id, *body, self.sep_token_id]

    def save_pretrained(self, directory: str | Path) -> None:
        (Path(directory) / "tokenizer.txt").write_text(
            "byte tokenizer: 0 pad, 1 start, 2 end, 3 + UTF-8 byte\n", encoding="utf-8")


def encode_texts(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    if isinstance(tokenizer, ByteTokenizer):
        return [tokenizer.encode(t, max_length) for t in texts]
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def examples(tokenizer, data: labelled.Labelled, classes: list, max_length: int, what: str) -> list[dict]:
    """One {input_ids, labels, length} per example; a label the training set lacks stops the run."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in data.labels if v not in index})
    if unknown:
        raise StageError(f"{what}: labels not seen in training: {', '.join(unknown[:5])}; training classes: "
                         f"{', '.join(map(str, classes))}")
    ids = encode_texts(tokenizer, data.texts, max_length)
    return [{"input_ids": i, "labels": index[label], "length": len(i)} for i, label in zip(ids, data.labels)]


@dataclass
class ClassCollator:
    """Pads input_ids to the batch's longest example (or to ``pad_to``), with an attention mask."""
    pad_token_id: int
    pad_to: int | None = None
    pad_to_multiple_of: int = 8

    def __call__(self, features: list[dict]) -> dict:
        longest = self.pad_to or max(len(f["input_ids"]) for f in features)
        if self.pad_to is None and self.pad_to_multiple_of > 1:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            input_ids[row, :n] = torch.as_tensor(feature["input_ids"], dtype=torch.long)
            attention_mask[row, :n] = 1
        labels = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

