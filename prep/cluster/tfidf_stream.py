"""TF-IDF vectors for inputs of any size: hashed features on disk, LSA fitted on a sample.

The embedding pass hands over each text's (bucket ids, counts), hashed wherever the engine
ran it (prep.cluster.embed_pass); ``Postings`` appends them to two int32 files in the
stage's scratch folder and counts document frequencies as they come, so the main process
holds 8 bytes a record (the entry counts) and a 2^18 table, never the texts or the matrix.

``embed_postings`` then writes the float16 vectors. Up to ``LSA_SAMPLE`` texts it is the
exact computation of prep.cluster.tfidf.embed_tfidf (same arrays, same order, so the same
vectors). Beyond, the LSA directions are fitted on a seeded sample of LSA_SAMPLE texts, with
idf from every text, and every text is projected on them in blocks of BLOCK_ROWS: a new text
gets coordinates x V, where V is the sample's leading right singular vectors scaled by
1/s (X V = U S for the sample itself).
"""
from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import torch

from prep.cluster.tfidf import BUCKETS, DIMS, inverse_df, lsa, lsa_projection, to_csr, weigh

# Texts the LSA is fitted on at most: 20,000 texts of ~1 KB hold ~6M entries, ~0.4 GB at the peak
# while the factors are computed (the whole-input fit held ~28 KB a record at its peak).
LSA_SAMPLE = 20_000
# Texts projected at a time: 16,384 x ~300 entries, ~100 MB of transient arrays at most.
BLOCK_ROWS = 16_384
# Bucket ids buffered before they are added to the document frequencies (4 MB of int32).
DF_FLUSH = 1 << 20


class Postings:
    """Per text, its sorted bucket ids and their counts, appended in input order."""

    def __init__(self, folder: Path):
        self.paths = (Path(folder) / "ids.i32", Path(folder) / "tf.i32")
        self._files = [open(path, "wb") for path in self.paths]
        self.lengths = array("q")
        self.df = np.zeros(BUCKETS, dtype=np.int64)
        self._pending: list = []
        self._held = 0
        self.offsets = None
        self.info: dict = {}  # the embedding pass's figures, for the stats file

    def add_features(self, ids, tf) -> None:
        self._files[0].write(np.asarray(ids, dtype=np.int32).tobytes())
        self._files[1].write(np.asarray(tf, dtype=np.int32).tobytes())
        self.lengths.append(len(ids))
        self._pending.append(ids)
        self._held += len(ids)
        if self._held >= DF_FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:  # ids are unique within a text: one count per text that has the bucket
            self.df += np.bincount(np.concatenate(self._pending).astype(np.int64), minlength=BUCKETS)
        self._pending, self._held = [], 0

    def finish(self) -> None:
        self._flush()
        for handle in self._files:
            handle.close()
        self.offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.frombuffer(self.lengths, dtype=np.int64), out=self.offsets[1:])

    @property
    def n(self) -> int:
        return len(self.lengths)

    def rows(self, lo: int, hi: int):
        """(rows 0..hi-lo-1 int64, bucket ids int32, counts int32) of texts lo..hi-1."""
        start, stop = int(self.offsets[lo]), int(self.offsets[hi])
        ids, tf = (np.fromfile(path, dtype=np.int32, count=stop - start, offset=4 * start) for path in self.paths)
        return np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(self.offsets[lo:hi + 1])), ids, tf

    def take(self, index):
        """As ``rows`` for the texts of the sorted ``index`` (rows numbered 0..len(index)-1)."""
        starts, stops = self.offsets[index], self.offsets[index + 1]
        picks = np.concatenate([np.arange(a, b) for a, b in zip(starts.tolist(), stops.tolist())] or [[]])
        mapped = [np.memmap(path, dtype=np.int32, mode="r") for path in self.paths]
        try:
            ids, tf = (m[picks.astype(np.int64)] for m in mapped)
        finally:
            del mapped
        return np.repeat(np.arange(len(index), dtype=np.int64), stops - starts), ids, tf


def embed_postings(postings: Postings, out, seed: int, sample: int | None = None) -> dict:
    """Append every text's l2-normalised LSA vector to ``out`` (prep.cluster.vectors.VectorFile)
    in input order, the LSA fitted on ``sample`` texts at most (None: LSA_SAMPLE); what was
    done, for the stats file."""
    sample = LSA_SAMPLE if sample is None else sample
    postings.finish()
    n = postings.n
    idf = inverse_df(postings.df, n)
    if n <= sample:
        rows, cols, tf = postings.rows(0, n)
        weights = weigh(rows, cols, tf, idf, n)
        if len(weights) == 0:  # no text has a word: embed_tfidf's single zero column
            out.append(np.zeros((n, 1), dtype=np.float32))
        else:
            out.append(torch.nn.functional.normalize(lsa(rows, cols, weights, n, DIMS, seed), dim=1).numpy())
        return {"lsa_sample": n}
    index = np.sort(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:sample].numpy())
    rows, cols, tf = postings.take(index)
    if len(cols) == 0:  # no sampled text has a word: one zero column, as embed_tfidf gives
        for lo in range(0, n, BLOCK_ROWS):
            out.append(np.zeros((min(BLOCK_ROWS, n - lo), 1), dtype=np.float32))
        return {"lsa_sample": len(index)}
    used, projection = lsa_projection(rows, cols, weigh(rows, cols, tf, idf, len(index)), len(index), DIMS, seed)
    del rows, cols, tf
    lookup = np.full(BUCKETS, -1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    for lo in range(0, n, BLOCK_ROWS):
        hi = min(lo + BLOCK_ROWS, n)
        rows, cols, tf = postings.rows(lo, hi)
        weights = weigh(rows, cols, tf, idf, hi - lo)
        where = lookup[cols]
        inside = where >= 0  # buckets the sample did not share span no fitted direction
        matrix = to_csr(rows[inside], where[inside], weights[inside], (hi - lo, len(used)))
        out.append(torch.nn.functional.normalize(matrix @ projection, dim=1).numpy())
    return {"lsa_sample": len(index)}
