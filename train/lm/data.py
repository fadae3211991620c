"""Training data: Arrow from `tunesmith prep tokenize`, or JSONL tokenized on the fly.

Arrow (an IPC stream, the IPC file layout of the guide's Pygmalion scripts, or a folder of
shards) is read as is. JSONL/JSON records go through the same tokenizer code as the
tokenize stage (prep.tokenize.encode.encode_records), after an optional layout conversion
(qlora.py's --dataset_format). Without an eval file, --eval_dataset_size holds out a
seeded sample. Every dataset keeps input_ids, labels and length columns.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.compute as pc

from prep.core.errors import StageError
from prep.core.records import read_records
from prep.core.shapes import alpaca_template
from prep.tokenize.arrow_io import read_arrow
from prep.tokenize.encode import TokenizeConfig, encode_records

ARROW_SUFFIXES = (".arrow", ".ipc")
HUB_DATASETS = ("alpaca", "alpaca-clean", "chip2", "self-instruct", "hh-rlhf", "longform", "oasst1", "vicuna")
# qlora.py's --dataset_format values whose converter writes the whole prompt itself: the pair is
# then tokenized back to back, as qlora.py did, unless --prompt_format says otherwise.
WRITES_OWN_PROMPT = ("alpaca", "alpaca-clean", "chip2", "self-instruct", "hh-rlhf", "oasst1")


def _alpaca(r: dict) -> dict:
    return {"input": alpaca_template(r.get("instruction") or "", r.get("input") or ""), "output": r.get("output")}


def _chip2(r: dict) -> dict:
    human, _, bot = str(r.get("text", "")).partition("\n<bot>: ")
    return {"input": human.replace("<human>: ", ""), "output": bot}


# --dataset_format name -> record converter. Records with an empty input become text
# records, which train on every token, as qlora.py did with input ''.
FORMATS = {
    "input-output": lambda r: r,
    "text": lambda r: r,
    "messages": lambda r: r,
    "alpaca": _alpaca,
    "alpaca-clean": _alpaca,
    "self-instruct": lambda r: {"input": r.get("prompt"), "output": r.get("completion")},
    "chip2": _chip2,
    "hh-rlhf": lambda r: {"text": r.get("chosen")},
    "oasst1": lambda r: {"text": r.get("text")},
}


def source_kind(spec: str) -> str:
    """'arrow' or 'jsonl' for a file, folder or glob."""
    path = Path(spec)
    if path.is_dir():
        return "arrow" if any(p.suffix in ARROW_SUFFIXES for p in path.rglob("*")) else "jsonl"
    if not path.exists() and spec in HUB_DATASETS:
        raise StageError(f"--dataset {spec}: hub datasets are not downloaded here; save it as JSONL "
                         "and pass the file or folder")
    return "arrow" if path.suffix.lower() in ARROW_SUFFIXES else "jsonl"


def load_arrow(spec: str, tokenizer, data_args, specials) -> object:
    return read_arrow(spec)


def load_jsonl(spec: str, tokenizer, data_args, specials) -> object:
    """Tokenize records on the fly with the tokenize stage's code and settings."""
    fmt = data_args.dataset_format or "input-output"
    if fmt not in FORMATS:
        raise StageError(f"--dataset_format {fmt}: not one of {', '.join(FORMATS)}")
    broken = []
    records = []
    for item in read_records(spec):
        if item.record is None:
            broken.append(f"{item.where}: {item.error}")
        else:
            records.append(FORMATS[fmt](item.record))
    config = TokenizeConfig(max_length=max_length(data_args), train_on_source=data_args.train_on_source,
                            source_max_len=data_args.source_max_len,
                            target_max_len=data_args.target_max_len, add_special_tokens=tuple(specials),
                            **prompt_settings(data_args))
    counters = Counter()
    examples = list(encode_records(records, tokenizer, config, counters))
    _report(spec, broken, counters)
    if not examples:
        raise StageError(f"{spec}: no usable examples ({len(broken)} broken lines, "
                         f"{sum(v for k, v in counters.items() if k.startswith('dropped:'))} dropped)")
    ids = [e["input_ids"] for e in examples]
    return datasets.Dataset.from_dict({"input_ids": ids, "labels": [e["labels"] for e in examples],
                                       "length": [len(x) for x in ids]})


def prompt_settings(data_args) -> dict:
    """The TokenizeConfig fields for the prompt format, read as `prep tokenize` reads its flags."""
    name = getattr(data_args, "prompt_format", "auto") or "auto"
    if name == "auto" and data_args.dataset_format in WRITES_OWN_PROMPT:
        name = "raw"
    template = None
    if getattr(data_args, "template_file", None):
        try:
            template = Path(data_args.template_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StageError(f"--template_file {data_args.template_file}: cannot read it ({exc})") from exc
    return {"prompt_format": name, "system_prompt": getattr(data_args, "system_prompt", "none") or "none",
            "template": template}


LOADERS = {"arrow": load_arrow, "jsonl": load_jsonl}


def max_length(data_args) -> int:
    if data_args.max_length is not None:
        return data_args.max_length
    if data_args.source_max_len is not None and data_args.target_max_len is not None:
        return data_args.source_max_len + data_args.target_max_len
    return 2048


def _report(spec: str, broken: list[str], counters: Counter) -> None:
    dropped = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("dropped:")}
    if broken:
        print(f"tunesmith: warning: {spec}: {len(broken)} broken lines skipped (first: {broken[0]})",
              file=sys.stderr)
    if dropped:
        print(f"tunesmith: warning: {spec}: records dropped: "
              + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())), file=sys.stderr)


def fully_masked_rows(ds) -> int:
    """Rows whose every label is -100: they add nothing to the loss."""
    rows_with_a_label = 0
    for chunk in ds.data.column("labels").chunks:
        flat = pc.list_flatten(chunk)
        parents = pc.list_parent_indices(chunk)
        rows_with_a_label += len(pc.unique(pc.filter(parents, pc.not_equal(flat, -100))))
    return len(ds) - rows_with_a_label


def check_trainable(ds, spec: str, uft: bool) -> None:
    """Refuses a training set with nothing to learn (the loss would be 0 throughout); names a few."""
    if uft or "labels" not in ds.column_names or len(ds) == 0:
        return
    masked = fully_masked_rows(ds)
    if masked == len(ds):
        raise StageError(f"{spec}: all {masked} rows have every label -100: nothing to train on (was it "
                         "tokenized with the prompt only, or outputs cut away by --target_max_len?)")
    if masked:
        print(f"tunesmith: warning: {spec}: {masked} of {len(ds)} rows have every label -100 and teach "
              "nothing", file=sys.stderr)


def check_columns(ds, spec: str, uft: bool) -> None:
    """input_ids, and labels unless --uft; equal lengths per row."""
    columns = ds.column_names
    if "input_ids" not in columns:
        raise StageError(f"{spec}: no input_ids column (columns: {', '.join(columns)}); tokenize it "
                         "with `tunesmith prep tokenize` or pass the JSONL records instead")
    if uft:
        return
    if "labels" not in columns:
        raise StageError(f"{spec}: no labels column (columns: {', '.join(columns)}); tokenize with "
                         "`tunesmith prep tokenize`, or pass --uft to train on every token")
    table = ds.data
    same = pc.equal(pc.list_value_length(table.column("input_ids")), pc.list_value_length(table.column("labels")))
    if not pc.all(same).as_py():
        raise StageError(f"{spec}: some rows have labels of another length than input_ids")


def token_range(ds, column: str) -> tuple[int | None, int | None]:
    """(smallest, largest) value in a list column, ignoring -100 in labels."""
    flat = pc.list_flatten(ds.data.column(column))
    if column == "labels":
        flat = pc.filter(flat, pc.not_equal(flat, -100))
    bounds = pc.min_max(flat)
    return bounds["min"].as_py(), bounds["max"].as_py()


def check_vocab(datasets_by_name: dict, rows: int) -> None:
    """Stops where data holds token ids the model has no embedding for."""
    for name, ds in datasets_by_name.items():
        for column in ("input_ids", "labels"):
            if ds is None or column not in ds.column_names:
                continue
            low, high = token_range(ds, column)
            if high is not None and (high >= rows or low < 0):
                raise StageError(f"{name} data holds token id {high if high >= rows else low} in {column} "
                                 f"but the model has {rows} embeddings: was it tokenized with another "
                                 "tokenizer, or without the --add_special_tokens given here?")


def holdout(train, size: float, seed: int, keep_in_memory: bool = False):
    """(train, held out or None): --eval_dataset_size rows (a fraction below 1) split off, seeded."""
    n = int(size) if size >= 1 else round(size * len(train))
    if n >= len(train):
        n = max(1, len(train) // 10)
        print(f"tunesmith: warning: --eval_dataset_size {size:g} is not below the {len(train)} "
              f"training examples; holding out {n}", file=sys.stderr)
    if n < 1:
        return train, None
    parts = train.train_test_split(test_size=n, seed=seed, shuffle=True, keep_in_memory=keep_in_memory)
    return parts["train"], parts["test"]


def _split(train, data_args, seed: int):
    return holdout(train, data_args.eval_dataset_size, seed)


def load_data(data_args, training_args, tokenizer, specials=()) -> tuple:
    """(train, eval or None) as datasets.Dataset with input_ids, labels, length."""
    if data_args.train_file and data_args.dataset:
        raise StageError("--train_file and --dataset name the same thing; give one")
    spec = data_args.train_file or data_args.dataset
    if not spec:
        raise StageError("no training data: pass --train_file (or --dataset)")
    loaded = {}
    for name, path in (("train", spec), ("eval", data_args.eval_file)):
        if path:
            loaded[name] = LOADERS[source_kind(path)](path, tokenizer, data_args, specials)
            check_columns(loaded[name], path, data_args.uft)
    train, evaluation = loaded["train"], loaded.get("eval")
    check_trainable(train, spec, data_args.uft)
    wants_eval = training_args.do_eval or getattr(training_args.eval_strategy, "value", "no") != "no"
    if evaluation is None and data_args.eval_dataset_size > 0 and wants_eval:
        seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
        train, evaluation = _split(train, data_args, seed)
    if data_args.max_train_samples is not None:
        train = train.select(range(min(len(train), data_args.max_train_samples)))
    if evaluation is not None and data_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(len(evaluation), data_args.max_eval_samples)))
    return train, evaluation
