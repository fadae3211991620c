"""Split records into train and validation (and test) sets, stably and without leaks.

Each record is placed by a seeded hash of its group: the value at --group-key when given
(e.g. meta.dup_group from dedup, or meta.source to keep pages together), else its
normalised text (a preference record's prompt). Groups are ranked by that hash and the lowest ranks fill validation (then
test) up to the exact share of records the ratio asks for; the rest is train. So the same
records and seed always give the same split whatever their order, a whole group always
lands on one side, and a group never straddles train and validation.

The hashing runs on the engine (--engine local|ray, --workers N): each record's group digest
comes back in input order, the main process counts the size of each group (the one global
step: the exact shares need them) and then reads the input a second time, writing each
record to its side. Memory holds one digest per group and one small number per record, never
the records, and the output is the same on every engine.
"""
from __future__ import annotations

import hashlib
from array import array
from pathlib import Path

from prep.core.engine import run_work
from prep.core.errors import StageError
from prep.core.flags import add_engine, add_input, add_quiet
from prep.core.records import dumps, get_path, input_files, read_records
from prep.core.shapes import group_text
from prep.core.stage import Stage, not_text, options_of, progress
from prep.core.work import Work

SPLITS = ("train", "val", "test")
# Bytes of the seeded SHA-256 kept as a group's digest: its first 8 rank the groups (as
# group_hash), all 16 name the group (two keys sharing 128 bits: never, in practice).
DIGEST_BYTES = 16


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


def group_digest(key: str, seed: int) -> int:
    """The group's seeded digest as a number: groups rank by it, and it names the group."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:DIGEST_BYTES], "big")


def group_hash(key: str, seed: int) -> int:
    return group_digest(key, seed) >> (8 * (DIGEST_BYTES - 8))


def group_key(record: dict, dotted: str | None, missing: list) -> str:
    if dotted:
        value = get_path(record, dotted)
        if value is not None:
            return f"group:{value}"
        missing.append(1)
    # A preference record is grouped by its prompt: its pairs never straddle train and validation.
    return "text:" + " ".join(group_text(record).lower().split())


def place(sizes: dict[int, int], ratios: list[float]) -> dict[int, str]:
    """Each group's split: groups in digest order fill val, then test, up to their exact
    shares of all the records; the rest is train. ``sizes``: records per group digest."""
    order = sorted(sizes)
    n = sum(sizes.values())
    targets = []
    for share in ratios[1:]:
        want = round(share * n)
        # A non-zero share of a dataset of two or more records gets at least one record.
        targets.append(max(want, 1) if share > 0 and n >= 2 else want)
    placed: dict[int, str] = {}
    cursor = 0
    for name, target in zip(SPLITS[1:], targets):
        filled = 0
        while cursor < len(order) and filled < target:
            placed[order[cursor]] = name
            filled += sizes[order[cursor]]
            cursor += 1
    for digest in order[cursor:]:
        placed[digest] = "train"
    return placed


def assign(keys: list[str], ratios: list[float], seed: int) -> list[str]:
    """The split name of each record, given each record's group key."""
    digests = [group_digest(k, seed) for k in keys]
    sizes: dict[int, int] = {}
    for digest in digests:
        sizes[digest] = sizes.get(digest, 0) + 1
    placed = place(sizes, ratios)
    return [placed[d] for d in digests]


def judge(settings: dict):
    """The per-record work, in whichever process runs it (prep.core.engine): each record's
    group digest (its payload; every record is kept), and how many lacked --group-key."""
    def run_batch(batch: list[dict]):
        missing: list = []
        digests = [group_digest(group_key(r, settings["group_key"], missing), settings["seed"]) for r in batch]
        return [(d, None, None) for d in digests], {"group_key_missing": len(missing)}
    return run_batch


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
    add_engine(parser)


def output_paths(args, files: list[Path], ratios: list[float]) -> dict[str, Path]:
    if args.test_output is not None and len(ratios) != 3:
        raise StageError(f"--test-output needs a third share in --split_ratio (e.g. 0.9,0.05,0.05); "
                         f"got {args.split_ratio}")
    # Every output lands beside the one the user named; the input's folder only when none is named.
    named = next((p for p in (args.train_output, args.val_output, args.test_output) if p is not None), None)
    folder = named.parent if named is not None else files[0].parent
    outputs = {"train": args.train_output or folder / "train.jsonl",
               "val": args.val_output or folder / "val.jsonl"}
    if len(ratios) == 3:
        outputs["test"] = args.test_output or folder / "test.jsonl"
    return outputs


class Groups:
    """What the hashing pass leaves: each record's group (an index, 4 bytes a record) and the
    size of each group, by digest."""

    def __init__(self):
        self.index: dict[int, int] = {}
        self.sizes: list[int] = []
        self.of_record = array("I")

    def add(self, line: str) -> None:
        """One kept payload line (the digest as JSON), in input order."""
        digest = int(line)
        number = self.index.setdefault(digest, len(self.sizes))
        if number == len(self.sizes):
            self.sizes.append(0)
        self.sizes[number] += 1
        self.of_record.append(number)


def write_sides(stage: Stage, args, groups: Groups, ratios: list[float]) -> dict[str, int]:
    """The second pass: each good record of the input, read again, to the side of its group."""
    placed = place(dict(zip(groups.index, groups.sizes)), ratios)
    side = [placed[digest] for digest in groups.index]   # group number -> split name
    counts = dict.fromkeys(stage.paths, 0)
    n = 0
    reads = progress(read_records(args.input, args.max_record_bytes), args.quiet, desc="split: write", unit="rec")
    for item in reads:
        if item.error is not None or not_text(item.record) is not None:
            continue   # counted as an error by the first pass
        if n == len(groups.of_record):
            raise StageError(f"split: {args.input} holds more records than when it was first read: it "
                             "changed while split ran")
        name = side[groups.of_record[n]]
        stage.handle(name).write(dumps(item.record))
        counts[name] += 1
        n += 1
    if n != len(groups.of_record):
        raise StageError(f"split: {args.input} holds fewer records than when it was first read: it changed "
                         "while split ran")
    return counts


def run(args) -> int:
    ratios = parse_ratio(args.split_ratio)
    files = input_files(args.input)
    outputs = output_paths(args, files, ratios)
    groups = Groups()
    work = Work(judge, {"seed": args.seed, "group_key": args.group_key})
    with Stage("split", outputs, options_of(args), files, args.quiet) as stage:
        run_work(stage, read_records(args.input, args.max_record_bytes), work, args, desc="split: hash",
                 write=groups.add)
        missing = stage.extra.pop("group_key_missing", 0)
        counts = write_sides(stage, args, groups, ratios)
        stage.extra.update(counts=counts, groups=len(groups.sizes), group_key_missing=missing)
    if missing and not args.quiet:
        print(f"split: {missing} records lacked {args.group_key}; placed by their text")
    shown = ", ".join(f"{name} {counts[name]} -> {path}" for name, path in outputs.items())
    if not args.quiet:
        print(f"split: {stage.read_count} read, {stage.errors} errors; {shown}")
    return 0
