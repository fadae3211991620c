"""`prep tokenize --task preference`: preference records to an Arrow file of prompt and response ids.

A file holds one kind of row, set by the first record that reads as a preference record
(prep.core.shapes): pairs (chosen and rejected) or KTO (a completion and its label); a record of
the other kind is dropped as other-kind. Records are encoded on prep.core.engine like SFT's
(--workers, --engine ray); the rows are written in input order, so the file, the rejects and the
stats are the same bytes for any engine. Columns and TRL's names for them: prep/tokenize/preference/rows.py;
the encoding rules: prep/tokenize/preference/encode.py.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from prep.core.engine import run_work, worker_count
from prep.core.environ import environ_kept
from prep.core.errors import StageError
from prep.core.records import input_files, read_records
from prep.core.shapes import pair_layout
from prep.core.stage import Stage, options_of
from prep.core.work import Work
from prep.tokenize.encode import TokenizeConfig, prompt_format
from prep.tokenize.masking import Drop, detect_specials
from prep.tokenize.modes import special_tokens_guard
from prep.tokenize.preference.encode import encode_pair
from prep.tokenize.preference.rows import TRL_NAMES, PreferenceWriter, columns_for
from prep.tokenize.work import EVENTS, tokenizer_for

# Flags of SFT tokenization that have no meaning for preference rows.
SFT_ONLY = {"pack": "--pack", "train_on_source": "--train-on-source", "source_max_len": "--source-max-len",
            "target_max_len": "--target-max-len"}


def kind_of(spec, max_bytes: int) -> str:
    """"kto" or "pairs": the kind of the first record that reads as a preference record."""
    for item in read_records(spec, max_bytes):
        layout = pair_layout(item.record) if item.error is None and isinstance(item.record, dict) else None
        if layout is not None:
            return "kto" if layout.startswith("kto") else "pairs"
    return "pairs"


def judge(settings: dict):
    """The judge of a batch: each record's row (a dict, the engine's kept payload) or its drop."""
    if settings["one_thread"]:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    tokenizer = tokenizer_for(settings["path"], settings["added"])
    config: TokenizeConfig = settings["config"]
    fmt, sp = prompt_format(tokenizer, config), detect_specials(tokenizer)
    guard = special_tokens_guard(tokenizer, config.add_special_tokens, check=not config.allow_special_tokens)
    kind = settings["kind"]

    def one(record: dict, events: Counter):
        layout = pair_layout(record)
        if layout is not None and layout.startswith("kto") != (kind == "kto"):
            return Drop("other-kind", f"a {layout} record in a file of {kind} rows (set by its first record)")
        row = encode_pair(record, tokenizer, fmt, sp, config.max_length, guard, events)
        if isinstance(row, Drop):
            return row
        out = {name: row[name.removesuffix("_input_ids")] for name in columns_for(kind)}
        if "label" in row:
            out["label"] = row["label"]
        out["id"] = record.get("id")
        return out

    def run_batch(records: list[dict]):
        events: Counter = Counter()
        out = []
        for record in records:
            result = one(record, events)
            out.append((record, result.reason, result.detail) if isinstance(result, Drop) else (result, None, None))
        return out, {EVENTS: events}
    return run_batch


class Lengths:
    """Token counts of what is written, for the stats file."""

    def __init__(self, kind: str):
        self.kind = kind
        self.columns = {name: [] for name in columns_for(kind)}
        self.labels = Counter()

    def add(self, row: dict) -> dict:
        for name, values in self.columns.items():
            values.append(len(row[name]))
        if self.kind == "kto":
            self.labels[str(row["label"]).lower()] += 1
        return row

    def summary(self) -> dict:
        out = {"rows": len(self.columns["prompt_input_ids"])}
        for name, values in self.columns.items():
            ordered = sorted(values)
            out[name.removesuffix("_input_ids") + "_tokens"] = {
                "total": sum(values), "max": ordered[-1] if ordered else 0,
                "median": ordered[len(ordered) // 2] if ordered else 0}
        if self.kind == "kto":
            out["labels"] = dict(sorted(self.labels.items()))
        return out


def _metadata(args, config: TokenizeConfig, tokenizer, fmt, kind: str) -> dict:
    sp = detect_specials(tokenizer)
    return {"task": "preference", "kind": kind, "tokenizer": str(args.tokenizer_path),
            "max_length": config.max_length, **fmt.describe(), "bos_id": sp.bos_id, "eos_id": sp.eos_id,
            "pad_id": sp.pad_id, "prefix_ids": list(sp.prefix), "vocab_size": len(tokenizer),
            "columns": list(columns_for(kind)), "trl_names": TRL_NAMES,
            "added_special_tokens": list(config.add_special_tokens)}


def run(args, config: TokenizeConfig) -> int:
    # The judge built here keeps the tokenizer to one thread where several processes run.
    with environ_kept("TOKENIZERS_PARALLELISM"):
        return _run(args, config)


def _run(args, config: TokenizeConfig) -> int:
    given = [flag for name, flag in SFT_ONLY.items() if getattr(args, name, None) not in (None, False)]
    if given or args.mode != "auto":
        raise StageError(f"--task preference: {', '.join(given or ['--mode'])} apply to SFT examples only; "
                         "preference rows keep the prompt and each response apart")
    tokenizer = tokenizer_for(args.tokenizer_path, config.add_special_tokens)
    fmt = prompt_format(tokenizer, config)
    kind = kind_of(args.input, args.max_record_bytes)
    work = Work(judge, {"path": str(args.tokenizer_path), "added": config.add_special_tokens, "config": config,
                        "kind": kind, "one_thread": args.engine == "ray" or worker_count(args) != 1})
    with Stage("tokenize", {"output": Path(args.output)}, options_of(args), input_files(args.input),
               args.quiet, binary_outputs=["output"]) as stage:
        writer = PreferenceWriter(stage.handle(), kind, _metadata(args, config, tokenizer, fmt, kind))
        lengths = Lengths(kind)
        run_work(stage, read_records(args.input, args.max_record_bytes), work, args, size=config.batch_size,
                 write=lambda line: writer.add(lengths.add(json.loads(line))))
        writer.close()
        events = stage.extra.pop(EVENTS, {})
        stage.extra = {"task": "preference", "kind": kind, **lengths.summary(),
                       "truncated_prompt": events.get("truncated_prompt", 0), **fmt.describe()}
    if not args.quiet:
        print(f"tokenize --task preference: {stage.kept} of {stage.read_count} records -> "
              f"{stage.extra['rows']} {kind} rows in {args.output}; prompt format {fmt.name}; "
              f"dropped {dict(stage.dropped)}")
    return 0
