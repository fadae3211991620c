"""The per-record part of `prep tokenize` as engine work (prep.core.engine), and its payload.

A worker process loads the tokenizer once (the factory ``judge``; a process that already loaded
the same one, such as the main process whose judge forked workers inherit, reuses it), turns
each record into a job (prep.tokenize.modes) and encodes a batch of jobs in one tokenizer call
(prep.tokenize.batches.Encoder). A record that cannot be used comes back as a drop; a kept one
as its payload: the example's token ids, not the record, since the output is Arrow. The main
process decodes the payload (``payload``) and hands an example's int32 bytes to the Arrow
writer as they are (no Python int per token on that side); it packs documents where --pack
asks (packing joins records across batches, so it stays in one place); rows go in input order.

The payload travels as the engine's kept line: a JSON string holding a kind letter ("e": an
example, ids then labels; "d": a document to pack, ids alone) and the token ids as int32 in
base64, ~5.3 bytes a token, against ~6-7 for a JSON list, and decoded without a JSON parser.
"""
from __future__ import annotations

import base64
import os
import sys
from array import array
from collections import Counter

from prep.core.errors import StageError
from prep.tokenize.arrow_io import int32_bytes
from prep.tokenize.batches import Encoder
from prep.tokenize.chat import template_text
from prep.tokenize.encode import TokenizeConfig, load_tokenizer, prompt_format
from prep.tokenize.masking import Drop
from prep.tokenize.modes import job, special_tokens_guard

# The key under which a batch's event counts (truncations...) reach the stage's stats; the
# stage takes them out and writes them as it always has.
EVENTS = "tokenize_events"
# Counted by a worker that met chats with a tokenizer that has no chat template: a setup error,
# raised by the main process (``check_template``) as soon as it applies that batch.
NO_TEMPLATE = "chat_without_template"
_loaded: dict = {}   # (path, added special tokens) -> this process's tokenizer


def tokenizer_for(path: str, added: tuple[str, ...] = ()):
    """The tokenizer at ``path`` (prep.tokenize.encode.load_tokenizer), loaded once per process."""
    key = (str(path), tuple(added))
    if key not in _loaded:
        _loaded[key] = load_tokenizer(str(path), added)
    return _loaded[key]


def pack(kind: str, ids: list[int], labels: list[int] | None) -> str:
    """An encoded example (or a document to pack) as one payload string."""
    if kind == "doc":
        return "d" + base64.b64encode(int32_bytes(ids)).decode("ascii")
    return "e" + base64.b64encode(int32_bytes(ids) + int32_bytes(labels)).decode("ascii")


def payload(line: str) -> tuple[str, bytes, bytes | None]:
    """``(kind, ids, labels)`` from a kept line (a JSON string of base64 letters: no escapes), the
    ids and labels as little-endian int32 bytes (``ArrowWriter.add_bytes`` takes them as they are)."""
    raw = base64.b64decode(line.strip()[2:-1])
    if line.lstrip()[1] == "d":
        return "doc", raw, None
    half = len(raw) // 2
    return "example", raw[:half], raw[half:]


def as_ints(part: bytes) -> list[int]:
    """Little-endian int32 bytes of a payload as a list of ints."""
    ints = array("i")
    ints.frombytes(part)
    if sys.byteorder == "big":
        ints.byteswap()
    return ints.tolist()


def unpack(line: str) -> tuple[str, list[int], list[int] | None]:
    """``(kind, ids, labels)`` from a kept line, as lists of ints."""
    kind, ids, labels = payload(line)
    return kind, as_ints(ids), None if labels is None else as_ints(labels)


def check_template(counts: dict, tokenizer) -> None:
    """Raises the setup error where a worker found chats and the tokenizer has no chat template."""
    if counts.get(NO_TEMPLATE):
        raise StageError(f"chat records (messages) need a chat template and tokenizer "
                         f"{getattr(tokenizer, 'name_or_path', '')!r} has none: pass --mode supervised "
                         "(trains on the last assistant turn) or a tokenizer with a chat template")


def judge(settings: dict):
    """The judge of a batch of records: ``[(payload or record, reason, detail)]`` and the events.

    ``settings``: path and added (the tokenizer), config (TokenizeConfig), one_thread (several
    worker processes: each keeps the tokenizer to one thread rather than spread every call over
    all cores, which N processes would do N times over).
    """
    if settings["one_thread"]:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    tokenizer = tokenizer_for(settings["path"], settings["added"])
    config: TokenizeConfig = settings["config"]
    encoder = Encoder(tokenizer, config)
    fmt = prompt_format(tokenizer, config)
    guard = special_tokens_guard(tokenizer, config.add_special_tokens, check=not config.allow_special_tokens)
    has_template = template_text(tokenizer) is not None

    def run_batch(records: list[dict]):
        events: Counter = Counter()
        preps = [job(record, config.mode, events, fmt, guard) for record in records]
        jobs = [prep for prep in preps if not isinstance(prep, Drop)]
        if not has_template and any(prep[0] == "chat" for prep in jobs):
            # Told to the main process as a count, not raised here: an error raised in a Ray
            # worker reaches the main process wrapped in Ray's own, as a traceback.
            return [(record, NO_TEMPLATE, "a chat and no chat template") for record in records], {NO_TEMPLATE: 1}
        results, counts = encoder.encode(jobs)
        events.update(counts)
        built = iter(results)
        out = []
        for record, prep in zip(records, preps):
            result = prep if isinstance(prep, Drop) else next(built)
            if isinstance(result, Drop):
                out.append((record, result.reason, result.detail))
            else:
                out.append((pack(*result), None, None))
        return out, {EVENTS: events}
    return run_batch
