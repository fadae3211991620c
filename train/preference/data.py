"""Preference data: Arrow from `tunesmith prep tokenize --task preference`, renamed for TRL.

The tokenize stage writes pairs as ``prompt_input_ids``, ``chosen_input_ids`` and
``rejected_input_ids``, and KTO rows as ``prompt_input_ids``, ``completion_input_ids`` and
``label`` (list<int32>, the prompt rendered with the chat template, each completion ending in
one EOS; an ``id`` column may ride along). TRL's trainers read ``prompt_ids``,
``chosen_ids``, ``rejected_ids`` / ``completion_ids``; the columns are renamed (no copy,
Arrow is memory-mapped) and nothing is tokenized again. KTO also takes pairs: each becomes
a desirable and an undesirable row, as TRL's unpair_preference_dataset does with text
(here alternating, so that every batch holds both labels).
"""
from __future__ import annotations

import datasets
import pyarrow.compute as pc

from prep.core.errors import StageError
from prep.tokenize.arrow_io import read_arrow
from train.lm.data import holdout, source_kind, token_range

PAIRS = ("prompt_input_ids", "chosen_input_ids", "rejected_input_ids")
KTO_ROWS = ("prompt_input_ids", "completion_input_ids", "label")
RENAME = {"prompt_input_ids": "prompt_ids", "chosen_input_ids": "chosen_ids",
          "rejected_input_ids": "rejected_ids", "completion_input_ids": "completion_ids"}
TOKENIZE_HINT = "tokenize the records with `tunesmith prep tokenize --task preference`"


def layout(columns: list[str], method: str, spec: str) -> str:
    """'pairs' or 'kto' for a file's columns; StageError naming what the file holds."""
    if all(c in columns for c in PAIRS):
        return "pairs"
    if method == "kto" and all(c in columns for c in KTO_ROWS):
        return "kto"
    wanted = ", ".join(PAIRS)
    if method == "kto":
        wanted = f"{', '.join(KTO_ROWS)} (or the pair columns {wanted})"
    found = ", ".join(columns) or "none"
    hint = " (that is SFT data)" if "input_ids" in columns else ""
    raise StageError(f"{spec}: --method {method} needs the columns {wanted}; the file has {found}{hint}: "
                     f"{TOKENIZE_HINT}")


def unpair(pairs):
    """Pairs as KTO rows: each chosen completion desirable, each rejected one not, alternating
    (KTO samples in order, and a batch of one label only would skew its KL estimate)."""
    chosen = pairs.remove_columns("rejected_ids").rename_column("chosen_ids", "completion_ids")
    rejected = pairs.remove_columns("chosen_ids").rename_column("rejected_ids", "completion_ids")
    chosen = chosen.add_column("label", [True] * len(chosen))
    rejected = rejected.add_column("label", [False] * len(rejected))
    return datasets.interleave_datasets([chosen, rejected])


def load_file(spec: str, method: str, seed: int | None = None):
    """One Arrow file/folder as TRL's pre-tokenized columns for ``method``; ``seed``: shuffle the
    rows once (KTO reads in order), pairs before they are split, so that each stays together."""
    if source_kind(spec) != "arrow":
        raise StageError(f"{spec}: --method {method} reads Arrow only (JSONL is not tokenized on the fly for "
                         f"preference data): {TOKENIZE_HINT}")
    ds = read_arrow(spec)
    kind = layout(ds.column_names, method, spec)
    keep = PAIRS if kind == "pairs" else KTO_ROWS
    ds = ds.select_columns(list(keep))  # the collators take only their columns (an id column stays out)
    ds = ds.rename_columns({c: RENAME[c] for c in keep if c in RENAME})
    if len(ds) == 0:
        raise StageError(f"{spec}: no rows")
    if seed is not None:
        ds = ds.shuffle(seed=seed, keep_in_memory=True)
    if method == "kto" and kind == "pairs":
        ds = unpair(ds)
    check_completions(ds, spec)
    return ds


def completion_columns(ds) -> list[str]:
    return [c for c in ("chosen_ids", "rejected_ids", "completion_ids") if c in ds.column_names]


def check_completions(ds, spec: str) -> None:
    """An empty completion teaches nothing and breaks the log-ratio: stop, naming how many."""
    for column in completion_columns(ds):
        empty = pc.sum(pc.equal(pc.list_value_length(ds.data.column(column)), 0)).as_py() or 0
        if empty:
            raise StageError(f"{spec}: {empty} of {len(ds)} rows have an empty {column.replace('_ids', '')} "
                             "completion; re-tokenize with `prep tokenize --task preference`, which drops them")


def check_vocab(datasets_by_name: dict, rows: int) -> None:
    """Stops where data holds token ids the model has no embedding for."""
    for name, ds in datasets_by_name.items():
        for column in ["prompt_ids", *completion_columns(ds)] if ds is not None else ():
            low, high = token_range(ds, column)
            if high is not None and (high >= rows or low < 0):
                raise StageError(f"{name} data holds token id {high if high >= rows else low} in {column} but "
                                 f"the model has {rows} embeddings: was it tokenized with another tokenizer?")


def load_preference(data_args, training_args, method: str) -> tuple:
    """(train, eval or None) with TRL's pre-tokenized columns; the same data flags as SFT."""
    if data_args.train_file and data_args.dataset:
        raise StageError("--train_file and --dataset name the same thing; give one")
    spec = data_args.train_file or data_args.dataset
    if not spec:
        raise StageError("no training data: pass --train_file (or --dataset)")
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    train = load_file(spec, method, seed if method == "kto" else None)
    evaluation = load_file(data_args.eval_file, method) if data_args.eval_file else None
    wants_eval = training_args.do_eval or getattr(training_args.eval_strategy, "value", "no") != "no"
    if evaluation is None and data_args.eval_dataset_size > 0 and wants_eval:
        train, evaluation = holdout(train, data_args.eval_dataset_size, seed, keep_in_memory=True)
    if data_args.max_train_samples is not None:
        train = train.select(range(min(len(train), data_args.max_train_samples)))
    if evaluation is not None and data_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(len(evaluation), data_args.max_eval_samples)))
    return train, evaluation


def longest(ds) -> int:
    """The longest prompt + completion in tokens (ORPO needs a max_length)."""
    prompt = pc.list_value_length(ds.data.column("prompt_ids"))
    return max(pc.max(pc.add(prompt, pc.list_value_length(ds.data.column(c)))).as_py() or 1
               for c in completion_columns(ds))
