"""dedup's per-record part, run on the engines (prep.core.engine): exact keys and signatures.

A worker turns a batch of records into one payload per record: the 16-byte exact key and the
num_perm * 4-byte signature, little-endian, as base64 text (the engines carry each verdict as a
JSON line). The main process decodes them into the flat arrays ``Deduper.add_signed`` takes, so
it holds ~16 + 4 * num_perm bytes per record (528 at 128 permutations) and never the text.
"""
from __future__ import annotations

import binascii

import numpy as np

from prep.core.shapes import main_text
from prep.dedup.groups import Settings, hasher_of, sign_texts

KEY_BYTES = 16


def signer(settings: Settings):
    """The judge a worker builds once: records -> ([(payload, None, None)], {})."""
    hasher = hasher_of(settings)

    def judge(records: list[dict]) -> tuple[list[tuple], dict]:
        if not records:
            return [], {}
        keys, signatures = sign_texts([main_text(r) for r in records], hasher)
        return [(payload, None, None) for payload in encode(keys, signatures)], {}
    return judge


def encode(keys: np.ndarray, signatures: np.ndarray | None) -> list[str]:
    parts = [keys.astype("<u8").view(np.uint8).reshape(len(keys), -1)]
    if signatures is not None:
        parts.append(signatures.astype("<u4").view(np.uint8).reshape(len(keys), -1))
    rows = np.ascontiguousarray(np.hstack(parts))
    return [binascii.b2a_base64(row.tobytes(), newline=False).decode("ascii") for row in rows]


def decode(lines: list[str], settings: Settings) -> tuple[np.ndarray, np.ndarray | None]:
    """The (keys, signatures) of payloads as the engines hand them back: JSON string lines.

    base64 holds no character JSON escapes, so the text sits between the quotes as it was.
    """
    width = KEY_BYTES + (0 if settings.exact_only else 4 * settings.num_perm)
    raw = b"".join(binascii.a2b_base64(line[1:line.rindex('"')]) for line in lines)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(len(lines), width)
    keys = rows[:, :KEY_BYTES].copy().view("<u8").astype(np.uint64)
    if settings.exact_only:
        return keys, None
    return keys, rows[:, KEY_BYTES:].copy().view("<u4").astype(np.uint32)
