"""The record shape shared by every stage, and reading JSONL/JSON inputs with line numbers.

A record is one JSON object: ``{"id", "text"}`` or ``{"id", "input", "output"}``, or
``{"id", "messages": [{"role", "content"}, ...]}``; optional ``label`` and ``meta``. Keys a
stage does not know pass through untouched. How each layout reads as text is prep.core.shapes'.
Which files an input names (a file, folder, glob or sharded folder) is prep.core.inputs'.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# Expanding a file, folder or glob (sharded folders too) lives in prep.core.inputs; stages import
# input_files from here, beside the readers.
from prep.core.inputs import SIDECAR_SUFFIXES, input_files, is_sidecar, open_part, sources  # noqa: F401
from prep.core.shards import Part

# Bytes of a broken line kept in the rejects file: enough to find and fix it by hand.
RAW_PREVIEW_CHARS = 500
# A record (one JSONL line) larger than this is rejected with its size, unread: every stage's
# peak memory is then a small multiple of this bound, whatever one line of the input holds.
MAX_RECORD_BYTES = 8 << 20
# Bytes read at a time while passing over the rest of an oversized line.
SKIP_CHUNK_BYTES = 1 << 20


@dataclass
class Read:
    """One item from an input: a record, or the error that stopped it being one."""
    record: dict | None
    where: str                 # "path:line" (1-based), for messages and rejects
    error: str | None = None   # why the item is not a record
    raw: str | None = None     # the start of the offending text, for the rejects file


def get_path(record: dict, dotted: str):
    """``get_path(r, "meta.dup_group")``: None where any step is missing."""
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def set_meta(record: dict, **values) -> dict:
    """Add keys under ``meta`` without dropping what earlier stages put there."""
    meta = record.get("meta")
    if not isinstance(meta, dict):
        meta = {} if meta is None else {"original": meta}
    meta.update(values)
    record["meta"] = meta
    return record


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value (most JSON readers reject it)")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value) -> bool:
    """A lone UTF-16 surrogate (only a ``\\udXXX`` escape can make one): not text any encoder writes."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def parse_json(text: str):
    """``json.loads`` with every way real files break it turned into one ValueError with the reason:
    bad syntax, NaN/Infinity, numbers past Python's 4,300-digit limit, nesting deeper than the
    interpreter's stack, lone surrogates. The same rule at every reader, once."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("nested too deeply (more levels than a record can have)") from None
    except ValueError as exc:  # the int digit limit, or NaN/Infinity above
        raise ValueError(str(exc).split(";")[0]) from None
    if ("\\ud" in text or "\\uD" in text) and _has_surrogate(value):
        raise ValueError("a lone UTF-16 surrogate (\\udXXX) in a string: not valid Unicode text")
    return value


def _parse_line(raw: bytes, where: str) -> Read:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Read(None, where, f"not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                    raw.decode("utf-8", "replace")[:RAW_PREVIEW_CHARS])
    try:
        value = parse_json(text)
    except ValueError as exc:
        return Read(None, where, str(exc), text[:RAW_PREVIEW_CHARS])
    if not isinstance(value, dict):
        return Read(None, where, f"expected a JSON object, got {type(value).__name__}",
                    text[:RAW_PREVIEW_CHARS])
    return Read(value, where)


def _lines(fh, max_bytes: int) -> Iterator[tuple[bytes | None, int]]:
    """(line, size) per line; a line over ``max_bytes`` comes as (None, its size), never held whole."""
    while True:
        raw = fh.readline(max_bytes + 1)
        if not raw:
            return
        if len(raw) <= max_bytes or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        size = len(raw)
        while raw and not raw.endswith(b"\n"):
            raw = fh.readline(SKIP_CHUNK_BYTES)
            size += len(raw)
        yield None, size


def read_jsonl(path: Path, max_bytes: int = MAX_RECORD_BYTES, part: Part | None = None) -> Iterator[Read]:
    """Each non-blank line of a JSONL file; a broken line is an error item, not a crash.

    Read as bytes so that one non-UTF-8 line is rejected alone instead of failing the file; a
    line over ``max_bytes`` is rejected with its size before it is parsed. ``part``: the file's
    manifest entry, checked (sha256 and size) as the last bytes are read.
    """
    with (open(path, "rb") if part is None else open_part(part)) as fh:
        for number, (raw, size) in enumerate(_lines(fh, max_bytes), 1):
            where = f"{path}:{number}"
            if raw is None:
                yield Read(None, where, f"record of {size:,} bytes is over --max-record-bytes {max_bytes:,}")
                continue
            raw = raw.rstrip(b"\r\n")
            if raw.startswith(b"\xef\xbb\xbf") and number == 1:
                raw = raw[3:]  # a UTF-8 byte-order mark some editors add
            if not raw.strip():
                continue
            yield _parse_line(raw, where)


def read_json_array(path: Path, max_bytes: int = MAX_RECORD_BYTES) -> Iterator[Read]:
    """A .json file holding an array of objects (or one object).

    Published datasets also ship JSON Lines under a .json name (pandas' ``to_json(lines=True)``);
    such a file, whose first value is followed by more, is read line by line instead.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Read(None, f"{path}:1", f"not UTF-8 (byte offset {exc.start})")
        return
    try:
        value = parse_json(text)
    except ValueError as exc:
        if "Extra data" in str(exc) and text.lstrip().startswith("{"):
            yield from read_jsonl(path, max_bytes)
            return
        yield Read(None, f"{path}:1", str(exc))
        return
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        where = f"{path}:[{index}]"
        if isinstance(item, dict):
            yield Read(item, where)
        else:
            yield Read(None, where, f"expected a JSON object, got {type(item).__name__}",
                       json.dumps(item)[:RAW_PREVIEW_CHARS])


def read_records(spec: str | Path, max_bytes: int = MAX_RECORD_BYTES) -> Iterator[Read]:
    """Every record of a file, folder or glob of .jsonl / .json files (or sharded folders), in a
    stable order; ``where`` names the part file and its line."""
    for path, part in sources(spec, (".jsonl", ".json")):
        if path.suffix.lower() == ".json":
            yield from read_json_array(path, max_bytes)
        else:
            yield from read_jsonl(path, max_bytes, part)


def dumps(record: dict) -> str:
    """One output line. Key order is kept and non-ASCII is written as is (smaller, readable);
    NaN and Infinity are refused rather than written as the bare words most readers reject."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
