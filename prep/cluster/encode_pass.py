"""The encoder's part of the embedding pass (prep.cluster.embed_pass): per text its vector,
computed in the workers, and where the main process puts it.

Apart from prep.cluster.embed_pass so that a TF-IDF run, and each of its worker processes,
never imports torch's encoder stack (transformers takes seconds to import).
"""
from __future__ import annotations

import numpy as np

from prep.cluster.embed_pass import EmbedSettings, judge_of, pack
from prep.embed import embed_texts


def encoder_judge(settings: EmbedSettings):
    """Per text its mean-pooled, normalised vector as float32 (stored as prep.cluster.vectors
    decides). A batch is embedded whole (sorted by length, padded per encoder batch), so the
    vectors do not depend on the engine that ran it."""
    info: dict = {}

    def payloads(texts, counts):
        vectors = embed_texts(texts, encoder=settings.embedder, pooling="mean", normalize=True,
                              batch_size=settings.batch_size, max_length=settings.max_tokens,
                              device=settings.device, quiet=True, dtype=settings.precision, info=info)
        counts["sum"].update({key: info[key] for key in ("tokens", "at_limit", "batches")})
        counts["same"].update(dtype=info["dtype"], max_tokens=info["max_tokens"], cached=info["cached"])
        return [{"v": pack(row)} for row in vectors.astype(np.float32)]
    return judge_of(settings, payloads)


class VectorSink:
    """The vectors as they come back in input order: buffered (4,096 rows, 6 MiB at 384 dims),
    then appended to the vector file (prep.cluster.vectors)."""

    def __init__(self, out):
        self.out, self.info, self._rows = out, {}, []

    def add_vector(self, row) -> None:
        self._rows.append(row)
        if len(self._rows) >= 4096:
            self.finish()

    def finish(self) -> None:
        if self._rows:
            self.out.append(np.stack(self._rows))
            self._rows = []
