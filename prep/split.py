"""Split records into train and validation (and test) sets, stably and without leaks.

Each record is placed by a seeded hash of its group: the value at --group-key when given
(e.g. meta.dup_group from dedup, or meta.source to keep pages together), else its
normalised text. Groups are ranked by that hash and the lowest ranks fill validation (then
test) up to the exact share of records the ratio asks for; the rest is train. So the same
records and seed always give the same split whatever their order, a whole group always
lands on one side, and a group never straddles train and validation.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import add_input, add_quiet
from prep.core.records import get_path, input_files, read_records
from prep.core.shapes import main_text
from prep.core.stage import Stage, options_of

SPLITS = ("train", "val", "test")


def parse_ratio(text: str) -> list[float]:
    """'0.99,0.01' -> [0.99, 0.01]; also '90,10' (percentages) and a third test share."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise StageError(f"--split_ratio {text!r}: expected numbers like 0.99,0.01") from None
    if not 2 <= len(parts) <= 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise StageError(f"--split_ratio {text!r}: expected two or three non-negative shares "
                         "(train,val[,test]) such as 0.99,0.01")
    total = sum(parts)
    return [p / total for p in parts]


def group_hash(key: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def group_key(record: dict, dotted: str | None, missing: list) -> str:
    if dotted:
        value = get_path(record, dotted)
        if value is not None:
            return f"group:{value}"
        missing.append(1)
    return "text:" + " ".join(main_text(record).lower().split())


def assign(keys: list[str], ratios: list[float], seed: int) -> list[str]:
    """The split name of each record: groups in hash order fill val, then test, then train."""
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    order = sorted(sizes, key=lambda k: (group_hash(k, seed), k))
    n = len(keys)
    targets = []
    for share in ratios[1:]:
        want = round(share * n)
        # A non-zero share of a dataset of two or more records gets at least one record.
        targets.append(max(want, 1) if share > 0 and n >= 2 else want)
    place: dict[str, str] = {}
    cursor = 0
    for name, target in zip(SPLITS[1:], targets):
        filled = 0
        while cursor < len(order) and filled < target:
            place[order[cursor]] = name
            filled += sizes[order[cursor]]
            cursor += 1
    for key in order[cursor:]:
        place[key] = "train"
    return [place[k] for k in keys]


def add_arguments(parser) -> None:
    add_input(parser)
    parser.add_argument("--split_ratio", "--split-ratio", dest="split_ratio", default="0.99,0.01",
                        help="shares of train,val (or train,val,test); normalised to sum to 1")
    parser.add_argument("--train-output", "--train_output", dest="train_output", type=Path, default=None,
                        help="train JSONL (default: INPUT's folder/train.jsonl)")
    parser.add_argument("--val-output", "--val_output", dest="val_output", type=Path, default=None,
                        help="validation JSONL (default: val.jsonl beside --train-output, else in INPUT's folder)")
    parser.add_argument("--test-output", "--test_output", dest="test_output", type=Path, default=None,
                        help="test JSONL, with a third share (default: test.jsonl beside --train-output, else in INPUT's folder)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the placement hash")
    parser.add_argument("--group-key", "--group_key", dest="group_key", default=None,
                        help="dotted key whose value keeps records together, e.g. meta.dup_group or "
                        "meta.source (default: each record's normalised text)")
    add_quiet(parser)


def run(args) -> int:
    ratios = parse_ratio(args.split_ratio)
    files = input_files(args.input)
    if args.test_output is not None and len(ratios) != 3:
        raise StageError(f"--test-output needs a third share in --split_ratio (e.g. 0.9,0.05,0.05); "
                         f"got {args.split_ratio}")
    # Every output lands beside the one the user named; the input's folder only when none is named.
    named = next((p for p in (args.train_output, args.val_output, args.test_output) if p is not None), None)
    folder = named.parent if named is not None else files[0].parent
    outputs = {
        "train": args.train_output or folder / "train.jsonl",
        "val": args.val_output or folder / "val.jsonl",
    }
    if len(ratios) == 3:
        outputs["test"] = args.test_output or folder / "test.jsonl"
    with Stage("split", outputs, options_of(args), files, args.quiet) as stage:
        records = list(stage.records(read_records(args.input, args.max_record_bytes)))
        missing: list = []
        keys = [group_key(r, args.group_key, missing) for r in records]
        counts = dict.fromkeys(outputs, 0)
        for record, name in zip(records, assign(keys, ratios, args.seed)):
            stage.keep(record, name)
            counts[name] += 1
        stage.extra.update(counts=counts, groups=len(set(keys)), group_key_missing=len(missing))
    if missing and not args.quiet:
        print(f"split: {len(missing)} records lacked {args.group_key}; placed by their text")
    shown = ", ".join(f"{name} {counts[name]} -> {path}" for name, path in outputs.items())
    if not args.quiet:
        print(f"split: {stage.read_count} read, {stage.errors} errors; {shown}")
    return 0
