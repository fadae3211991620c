"""Describe a JSONL dataset: kinds, lengths, empty fields, duplicates. Writes nothing.

Lengths are of the whole record (prep.core.shapes.main_text: an alpaca record's instruction,
input and output together), in characters and in words, and for prompt/response records of each
side. Empty fields are counted under the record's own key names (instruction, input, context,
response...). The duplicate rate counts records whose normalised whole text (casefolded,
whitespace collapsed) was seen before in the file.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter

from prep.core.records import read_records
from prep.core.shapes import (
    Unusable,
    keyed,
    kind,
    layout_of,
    main_text,
    response_text,
    used_keys,
    view,
)

PERCENTILES = (50, 90, 99)


def percentiles(values: list[int]) -> dict:
    """Nearest-rank percentiles plus min, max and mean; empty lists give zeros."""
    if not values:
        return {"min": 0, **{f"p{p}": 0 for p in PERCENTILES}, "max": 0, "mean": 0.0}
    ordered = sorted(values)
    out = {"min": ordered[0]}
    for p in PERCENTILES:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n), 1-based
        out[f"p{p}"] = ordered[rank - 1]
    out["max"] = ordered[-1]
    out["mean"] = round(sum(ordered) / len(ordered), 1)
    return out


def empty_fields(record: dict) -> list[str]:
    """The record's own keys (as its layout names them: instruction, input, context, response...)
    that are there but blank, and a chat with no turns."""
    layout = layout_of(record)
    if layout is None:
        return [key for key in ("text", "input", "output") if key in record and not str(record[key] or "").strip()]
    source = keyed(record, layout)
    if layout in ("messages", "sharegpt"):
        turns = source.get("messages", source.get("conversations"))
        return [layout] if not turns else []
    return [key for key in used_keys(layout) if key in source and not str(source[key] or "").strip()]


def prompt_text(record: dict) -> str:
    try:
        seen = view(record)
    except Unusable:
        return ""
    return seen[1] if seen[0] == "supervised" else ""


def describe(spec: str) -> dict:
    kinds: Counter = Counter()
    empties: Counter = Counter()
    chars, words, input_words, output_words = [], [], [], []
    seen, duplicates, labelled, errors, error_where = set(), 0, 0, 0, []
    for item in read_records(spec):
        if item.error is not None:
            errors += 1
            error_where.append(f"{item.where}: {item.error}")
            continue
        record = item.record
        k = kind(record)
        kinds[k] += 1
        labelled += "label" in record
        empties.update(empty_fields(record))
        text = main_text(record)
        chars.append(len(text))
        words.append(len(text.split()))
        if k == "input-output":  # the prompt as shapes builds it: instruction and input together
            input_words.append(len(prompt_text(record).split()))
            output_words.append(len(response_text(record).split()))
        digest = hashlib.sha1(" ".join(text.casefold().split()).encode("utf-8")).digest()
        duplicates += digest in seen
        seen.add(digest)
    records = sum(kinds.values())
    return {
        "records": records, "errors": errors, "error_lines": error_where[:20],
        "kinds": dict(sorted(kinds.items())), "labelled": labelled,
        "chars": percentiles(chars), "words": percentiles(words),
        "input_words": percentiles(input_words), "output_words": percentiles(output_words),
        "empty_fields": dict(sorted(empties.items())),
        "duplicates": duplicates, "duplicate_rate": round(duplicates / records, 4) if records else 0.0,
    }


def render(report: dict) -> str:
    lines = [f"records       {report['records']}  (errors: {report['errors']})",
             f"kinds         {report['kinds']}",
             f"labelled      {report['labelled']}",
             f"empty fields  {report['empty_fields'] or 'none'}",
             f"duplicates    {report['duplicates']} ({report['duplicate_rate']:.1%})"]
    for name in ("chars", "words", "input_words", "output_words"):
        p = report[name]
        lines.append(f"{name:<13} min {p['min']}  p50 {p['p50']}  p90 {p['p90']}  p99 {p['p99']}  "
                     f"max {p['max']}  mean {p['mean']}")
    lines += [f"  error: {w}" for w in report["error_lines"]]
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("file", help="JSONL/JSON file, folder or glob to describe")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    report = describe(args.file)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
