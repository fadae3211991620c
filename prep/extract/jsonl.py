"""Extract records from JSONL / JSON datasets in the common instruction shapes.

Reads .jsonl files and .json arrays (a file, a folder or a glob) and maps each object to a
record: alpaca {instruction, input, output} -> {input: instruction + "\\n\\n" + input, output};
{prompt, generation} and {prompt, completion} -> {input, output}; {input, output} as is;
{text}; sharegpt {conversations: [{from, value}]} and OpenAI {messages: [{role, content}]}
-> {messages: [{role, content}]}. With --format auto each record's keys pick its shape; a
record that fits none is dropped ("unknown-shape"). With an explicit --format, a record
without the keys that shape needs is dropped ("missing-keys"). "id" is kept (else
FILE:LINE), other keys pass through untouched, and meta.source names the file.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from prep.core.flags import add_common
from prep.core.records import input_files, read_records, set_meta
from prep.core.shapes import ORDER, Unusable, canonical, layout_of, needed_keys
from prep.core.stage import Stage, options_of

FORMATS = ("auto", *ORDER)


def add_arguments(parser) -> None:
    add_common(parser, input_help="JSONL or JSON-array file, folder or glob")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="record shape; auto decides per record from its keys")
    parser.add_argument("--text-key", "--text_key", dest="text_key", default="text",
                        help="key holding the text of {text} records (renamed to text)")


def shape_of(record: dict, fmt: str, text_key: str) -> str | tuple[str, str]:
    """The layout to map ``record`` with, or a (drop reason, detail) when it fits none."""
    if fmt != "auto":
        missing = [k for k in needed_keys(fmt, text_key) if k not in record]
        return ("missing-keys", f"{fmt} needs {', '.join(map(repr, missing))}") if missing else fmt
    layout = layout_of(record, text_key)
    return layout or ("unknown-shape", f"keys: {', '.join(sorted(map(str, record))) or 'none'}")


def extract(record: dict, where: str, fmt: str, text_key: str, stage: Stage, shapes: Counter) -> None:
    shape = shape_of(record, fmt, text_key)
    if isinstance(shape, tuple):
        stage.drop(record, *shape, where=where)
        return
    shapes[shape] += 1
    try:
        fields = canonical(record, shape, text_key)
    except Unusable as exc:
        stage.drop(record, exc.reason, exc.detail, where=where)
        return
    path, _, position = where.rpartition(":")
    used = {*needed_keys(shape, text_key), "id", "meta", *fields}  # alpaca's input is in fields
    out = {"id": record["id"] if "id" in record else f"{Path(path).name}:{position}", **fields}
    out.update((k, v) for k, v in record.items() if k not in used)
    if "meta" in record:
        out["meta"] = record["meta"]
    stage.keep(set_meta(out, source=path))


def run(args) -> int:
    files = input_files(args.input)
    shapes: Counter = Counter()
    with Stage("extract-jsonl", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        for item in stage.good_reads(read_records(args.input), desc="extract jsonl"):
            extract(item.record, item.where, args.format, args.text_key, stage, shapes)
        stage.extra["shapes"] = dict(sorted(shapes.items()))
    if not args.quiet:
        print(f"extract jsonl: {stage.read_count} records; {stage.kept} kept, {sum(stage.dropped.values())} "
              f"dropped, {stage.errors} errors; shapes {stage.extra['shapes']} -> {args.output}")
    return 0
