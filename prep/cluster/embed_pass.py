"""The embedding pass of `prep cluster`, batch by batch on the engine (--engine, --workers).

A worker gets a batch of records and returns, per record, an "empty-text" drop or a small
payload: for tfidf the text's hashed features (bucket ids and counts), for an encoder its
vector (float32: prep.cluster.vectors decides what is stored). The main process reads the input once (read counts, broken lines and
file:line stay there, as for every stage), applies the verdicts in input order and streams
the payloads to disk (prep.cluster.vectors, prep.cluster.tfidf_stream): the records
themselves are not kept. Every batch is computed whole, single-threaded per encoder batch,
on whichever engine, so the vectors are the same on all of them.
"""
from __future__ import annotations

import base64
import json
from collections import deque
from dataclasses import dataclass

import numpy as np

from prep.cluster.tfidf import text_features
from prep.core.engine import batches, open_engine
from prep.core.records import get_path, read_records
from prep.core.shapes import main_text
from prep.core.work import Work

# Records per engine batch. tfidf: ~1-2 ms of hashing a record, so 256 is ~0.4 s of work. An
# encoder sorts each batch by length before padding: 1,024 texts give it runs of similar
# length (as the whole input did for small inputs) and stay ~2-4 s of MiniLM work on a CPU.
TFIDF_BATCH = 256
ENCODER_BATCH = 1024


@dataclass(frozen=True)
class EmbedSettings:
    embedder: str
    text_field: str
    batch_size: int = 64
    max_tokens: int | None = None
    device: str | None = None
    precision: str = "auto"


def text_of(record: dict, field: str) -> str:
    if field == "auto":
        return main_text(record)
    value = get_path(record, field)
    return "" if value is None else str(value)


def pack(array) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def unpack(text: str, dtype):
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _split(records: list[dict], field: str):
    """(verdicts with None where a record has text, the texts, their positions)."""
    results, texts, where = [], [], []
    for record in records:
        text = text_of(record, field)
        if text.strip():
            results.append(None)
            texts.append(text)
            where.append(len(results) - 1)
        else:
            results.append((record, "empty-text", f"no text in {field}"))
    return results, texts, where


def judge_of(settings: EmbedSettings, payloads):
    """A judge (prep.core.work) from ``payloads(texts, counts)``: one payload per text, the
    counts of the batch filled in ({"sum": summed over batches, "same": the same in each})."""
    def judge(records: list[dict]):
        results, texts, where = _split(records, settings.text_field)
        counts: dict = {"sum": {"texts": len(texts)}, "same": {}}
        for i, payload in zip(where, payloads(texts, counts) if texts else []):
            results[i] = (payload, None, None)
        return results, counts
    return judge


def tfidf_judge(settings: EmbedSettings):
    """Per text its hashed features: bucket ids then counts, one int32 array."""
    cache: dict = {}

    def payloads(texts, counts):
        return [{"f": pack(np.concatenate(text_features(text, cache)).astype(np.int32))} for text in texts]
    return judge_of(settings, payloads)


def embed_records(stage, args, sink, factory) -> tuple[dict | None, bytearray]:
    """Run the pass with the judges ``factory`` builds (``tfidf_judge``, or
    prep.cluster.encode_pass.encoder_judge): every record of ``args.input`` read (counted by ``stage``), the empty ones
    dropped, each payload given to ``sink`` (``add_features(ids, tf)`` or ``add_vector(row)``;
    its ``info`` dict gets the encoder's figures). Returns the first good record (for a message
    about --text-field) and one byte per good record: 1 if it was embedded, 0 if dropped here
    (the writing pass reads the input again and must know which records have a vector)."""
    settings = EmbedSettings(args.embedder, args.text_field, args.batch_size, args.max_tokens, args.device,
                             args.precision)
    size = TFIDF_BATCH if args.embedder == "tfidf" else ENCODER_BATCH
    verdicts: deque = deque()
    has_text = bytearray()
    first = None
    with open_engine(Work(factory, settings), args, stage.quiet) as judged:
        def fed():
            reads = read_records(args.input, args.max_record_bytes)
            for chunk, batch_verdicts, counts in judged(batches(reads, size)):
                verdicts.extend(batch_verdicts)
                for key, value in counts.get("sum", {}).items():
                    sink.info[key] = sink.info.get(key, 0) + value
                sink.info.update(counts.get("same", {}))
                yield from chunk

        for item in stage.good_reads(fed(), "embed"):
            reason, detail, line = verdicts.popleft()
            first = item.record if first is None else first
            has_text.append(reason is None)
            if reason is not None:
                stage.drop(json.loads(line), reason, detail, where=item.where)
                continue
            payload = json.loads(line)
            if "f" in payload:
                both = unpack(payload["f"], np.int32)
                sink.add_features(both[: len(both) // 2], both[len(both) // 2:])
            else:
                sink.add_vector(unpack(payload["v"], np.float32))
    return first, has_text
