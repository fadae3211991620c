"""Extract records from JSONL / JSON datasets in the layouts people publish.

Reads .jsonl files and .json arrays (a file, a folder or a glob) and maps each object to a
record as prep.core.shapes reads it: alpaca {instruction, input, output}, Dolly {instruction,
context, response}, GPTeacher-style {instruction, input, response} -> {input: the instruction,
a blank line and the input or context where there is one, output}; {prompt, generation},
{prompt, completion}, {prompt, response}, {question, answer} -> {input, output}; {input,
output} as is; {text}; ShareGPT {conversations: [{from, value}]} and OpenAI {messages: [{role,
content}]} -> {messages: [{role, content}]}. Keys match in any letter case; --map names other
keys. Preference records (prompt/chosen/rejected, conversations or messages with chosen and
rejected, hh-rlhf's chosen/rejected dialogues, KTO's prompt/completion or messages with a bool
label) pass through with their own keys, checked as prep.core.shapes reads them: the later
stages and `prep tokenize --task preference` read them as they are. With --format auto each
record's keys pick its layout; a record that fits none is dropped ("unknown-shape"), and so is an
OpenAssistant message row ("message-row": one turn of a tree, not a record; --format oasst joins
such rows into conversations, see oasst.py). With an explicit --format, a record without the keys that layout
needs is dropped ("missing-keys"). "id" is kept (else FILE:LINE), other keys pass through
untouched, and meta.source names the file.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from prep.core.engine import run_work
from prep.core.flags import add_common, add_engine
from prep.core.records import Read, get_path, input_files, read_records, set_meta
from prep.core.shapes import (
    ORDER,
    TWO_PART,
    Unusable,
    canonical,
    folded,
    layout_of,
    needed_keys,
    pair_layout,
    pair_of,
    parse_map,
    prompt_parts,
    renamed,
    used_keys,
)
from prep.core.stage import Stage, options_of
from prep.core.work import Work
from prep.extract import oasst
from prep.extract.serial import check_engine

FORMATS = ("auto", *ORDER, "oasst")
RAW_PREVIEW = 300   # characters of an item that is not a record, kept in the rejects file
# The keys of an OpenAssistant oasst1/oasst2 message row: it has "text", but read as a {text}
# record the user's question would be trained as a document and each reply lose its prompt.
MESSAGE_ROW = ("message_id", "parent_id", "role", "text")


def add_arguments(parser) -> None:
    add_common(parser, input_help="JSONL or JSON-array file, folder or glob")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="record shape; auto decides per record from its keys; oasst joins "
                        "OpenAssistant message rows (message_id, parent_id, role, text) into conversations")
    parser.add_argument("--oasst-paths", dest="oasst_paths", choices=oasst.PATHS, default="top",
                        help="with --format oasst: top, the best-ranked reply at each level of a tree (one "
                        "conversation per tree); all, every path from a root prompt to a leaf")
    parser.add_argument("--text-key", "--text_key", dest="text_key", default="text",
                        help="key holding the text of {text} records (renamed to text)")
    parser.add_argument("--map", dest="key_map", type=key_map, default={}, metavar="KEY=SOURCE,...",
                        help="read other keys as ours, e.g. --map output=response,input=context (Dolly) or "
                        "--map input=question,output=best_answer; applied before the layout is chosen")
    parser.add_argument("--records-key", dest="records_key", default=None, metavar="KEY",
                        help="the records are the objects listed under this key (a dotted path) of each "
                        "object read: a .json file that wraps them, e.g. {\"version\": 2, \"data\": [...]}")
    add_engine(parser)


def key_map(text: str) -> dict[str, str]:
    try:
        return parse_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shape_of(record: dict, fmt: str, text_key: str) -> str | tuple[str, str]:
    """The layout to map ``record`` with, or a (drop reason, detail) when it fits none."""
    if fmt != "auto":
        missing = [k for k in needed_keys(fmt, text_key) if k not in record and k not in folded(record)]
        return ("missing-keys", f"{fmt} needs {', '.join(map(repr, missing))}") if missing else fmt
    if all(k in record for k in MESSAGE_ROW):
        return ("message-row", "an OpenAssistant message row (message_id, parent_id, role, text): one turn of a "
                "conversation tree, not a training record; --format oasst joins the rows into conversations "
                "(--format text keeps each message as a text record)")
    layout = layout_of(record, text_key)
    return layout or ("unknown-shape", f"keys: {', '.join(sorted(map(str, record))) or 'none'} (none of the "
                      "known layouts; name the keys with --map, e.g. --map input=query,output=reply)"
                      + wrapped_hint(record))


def wrapped_hint(record: dict) -> str:
    """A pointer to --records-key where a key of ``record`` lists objects (a wrapper, not a record)."""
    lists = [(k, len(v)) for k, v in record.items()
             if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:5])]
    return "".join(f"; {k!r} lists {n} objects: if they are the records, pass --records-key {k}" for k, n in lists[:1])


def explode(reads, key: str):
    """--records-key: the objects listed under ``key`` of each object read, each a record of its own
    ("FILE:WHERE/KEY[j]"); an object without such a list is an error of its own."""
    for item in reads:
        if item.error is not None:
            yield item
            continue
        value = get_path(item.record, key)
        if not isinstance(value, list):
            found = "nothing" if value is None else type(value).__name__
            yield Read(None, item.where, f"--records-key {key!r}: expected a list of objects there, found {found} "
                       f"(keys: {', '.join(sorted(map(str, item.record)))})", json.dumps(item.record)[:RAW_PREVIEW])
            continue
        for j, sub in enumerate(value):
            where = f"{item.where}/{key}[{j}]"
            if isinstance(sub, dict):
                yield Read(sub, where)
            else:
                yield Read(None, where, f"expected a JSON object, got {type(sub).__name__}", json.dumps(sub)[:RAW_PREVIEW])


def extract(record: dict, where: str, settings: dict, shapes: Counter) -> tuple[dict, str | None, str | None]:
    """``(out, None, None)`` for a record mapped to ours, else ``(record, reason, detail)``."""
    fmt, text_key = settings["format"], settings["text_key"]
    source = record
    record = renamed(record, settings["key_map"])
    if fmt == "auto" and pair_layout(record):
        return _preference(record, source, where, shapes)
    shape = shape_of(record, fmt, text_key)
    if isinstance(shape, tuple):
        return (source, *shape)
    shapes[shape] += 1
    try:
        fields = canonical(record, shape, text_key)
    except Unusable as exc:
        return source, exc.reason, exc.detail
    path, _, position = where.rpartition(":")
    used = {*used_keys(shape, text_key), "id", "meta", *fields}  # alpaca's input is in fields
    out = {"id": record["id"] if "id" in record else f"{Path(path).name}:{position}", **fields}
    out.update((k, v) for k, v in record.items() if k not in used and str(k).lower() not in used)
    if "meta" in record:
        out["meta"] = record["meta"]
    set_meta(out, source=path)
    if shape in TWO_PART:  # what --prompt-format alpaca needs to write its two sections later
        instruction, extra = prompt_parts(record, out["input"])
        if extra:
            set_meta(out, prompt_parts={"instruction": instruction, "input": extra})
    return out, None, None


def _preference(record: dict, source: dict, where: str, shapes: Counter) -> tuple[dict, str | None, str | None]:
    """A preference record as it came (its keys are what the preference stages read), with an id
    and meta.source added; mapping its prompt to {input, output} or messages would glue the chosen
    response to the prompt and lose the rejected one."""
    try:
        layout = pair_of(record).layout
    except Unusable as exc:
        return source, exc.reason, exc.detail
    shapes[layout] += 1
    path, _, position = where.rpartition(":")
    out = {"id": record["id"] if "id" in record else f"{Path(path).name}:{position}"}
    out.update((k, v) for k, v in record.items() if k != "id")
    set_meta(out, source=path)
    return out, None, None


def judge(settings: dict):
    """The per-record work, in whichever process runs it (prep.core.engine): a batch of
    ``(file:line, record)`` pairs mapped, with the layouts seen counted."""
    def run_batch(batch: list[tuple[str, dict]]):
        shapes: Counter = Counter()
        return [extract(record, where, settings, shapes) for where, record in batch], {"shapes": shapes}
    return run_batch


def run(args) -> int:
    files = input_files(args.input)
    reads = read_records(args.input, args.max_record_bytes)
    if args.records_key:
        reads = explode(reads, args.records_key)
    if args.format == "oasst":
        return run_oasst(args, files, reads)
    work = Work(judge, {"format": args.format, "text_key": args.text_key, "key_map": args.key_map})
    with Stage("extract-jsonl", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        # check_types off: each layout's drop says why a field is not text.
        run_work(stage, reads, work, args, desc="extract jsonl",
                 check_types=False, with_where=True)
        stage.extra["shapes"] = dict(sorted(stage.extra.get("shapes", {}).items()))
    if not args.quiet:
        print(f"extract jsonl: {stage.read_count} records; {stage.kept} kept, {sum(stage.dropped.values())} "
              f"dropped, {stage.errors} errors; shapes {stage.extra['shapes']} -> {args.output}")
    return 0


def run_oasst(args, files, reads) -> int:
    """--format oasst: the rows of every input joined into conversations, in this process (a
    conversation needs rows from anywhere in its file)."""
    check_engine(args, "extract jsonl --format oasst")
    with Stage("extract-jsonl", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        written = oasst.join(reads, stage, args.oasst_paths)
        stage.extra.update(conversations=written, paths=args.oasst_paths)
    if not args.quiet:
        print(f"extract jsonl: {stage.read_count} message rows; {stage.kept} on {written} conversations "
              f"({args.oasst_paths} paths), {sum(stage.dropped.values())} dropped, {stage.errors} errors "
              f"-> {args.output}")
    return 0
