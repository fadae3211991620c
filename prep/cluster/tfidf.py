"""Hashing TF-IDF vectors with no model and no vocabulary, made dense for k-means.

Words (``\\w+``, lower-cased) and word pairs are hashed with CRC-32 into ``2^18`` buckets;
weights are sublinear tf (1 + ln tf) times smoothed idf, l2-normalised per text. A truncated
SVD (latent semantic analysis, computed in torch on the sparse matrix) keeps the 256
directions along which the texts vary most, which both makes the vectors dense and drops
the noise of words that few texts share; rows are l2-normalised again. Same texts and seed,
same vectors: the hash does not depend on the process, and the random start of the SVD
comes from the seed.
"""
from __future__ import annotations

import math
import re
import warnings
import zlib
from collections import Counter, defaultdict
from typing import Iterable

import numpy as np
import torch

WORD = re.compile(r"\w+")
# Hash buckets for words and word pairs: 2^18 keeps collisions rare for corpora of this size.
BUCKETS = 1 << 18
# Dimensions kept by the LSA; extra random directions and power iterations of the range
# finder (more of either: closer to the exact truncated SVD, slower).
DIMS = 256
LSA_OVERSAMPLE = 16
LSA_POWER = 2
# Buckets used by fewer texts than this are left out of the SVD (most word pairs, typos).
MIN_DF = 2
# Memoised hashes kept at most (about 100 MB of strings and ints).
CACHE_ENTRIES = 1_000_000
# Left out of the report's top terms: function words say nothing about a cluster.
STOPWORDS = frozenset("""
a about after all also an and any are as at be been but by can could did do does for from had
has have he her his how if in into is it its just may more most my no not of on one or other
our out over she so some such than that the their them then there these they this those to
under up was we were what when where which while who will with would you your
""".split())


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def bucket(gram: str, cache: dict) -> int:
    """CRC-32 bucket of a word or pair, memoised: words repeat far more than they vary."""
    found = cache.get(gram)
    if found is None:
        if len(cache) >= CACHE_ENTRIES:
            cache.clear()
        found = cache[gram] = zlib.crc32(gram.encode("utf-8")) & (BUCKETS - 1)
    return found


def features(text: str, cache: dict) -> list[int]:
    """Bucket ids of the words and adjacent word pairs of one text."""
    tokens = words(text)
    return ([bucket(t, cache) for t in tokens]
            + [bucket(f"{a} {b}", cache) for a, b in zip(tokens, tokens[1:])])


def text_features(text: str, cache: dict):
    """(sorted bucket ids int64, how often each occurs) of one text."""
    return np.unique(np.asarray(features(text, cache), dtype=np.int64), return_counts=True)


def inverse_df(df, n: int):
    """Smoothed idf per bucket from document frequencies over ``n`` texts."""
    return np.log((1.0 + n) / (1.0 + df)) + 1.0


def weigh(rows, cols, tf, idf, n: int):
    """Sublinear tf times idf per (row, bucket) entry, l2-normalised per row (rows 0..n-1)."""
    weights = (1.0 + np.log(tf.astype(np.float64))) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))
    weights /= np.maximum(norms, 1e-12)[rows]
    return weights


def sparse_tfidf(texts: Iterable[str]):
    """(rows, buckets, weights) numpy arrays: one entry per (text, bucket) present, weights
    l2-normalised per row; plus the number of texts."""
    rows, cols, counts, cache = [], [], [], {}
    n = 0
    for n, text in enumerate(texts, 1):
        ids, tf = text_features(text, cache)
        rows.append(np.full(ids.shape, n - 1, dtype=np.int64))
        cols.append(ids.astype(np.int32))
        counts.append(tf)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), 0
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    idf = inverse_df(np.bincount(cols, minlength=BUCKETS), n)
    return rows, cols, weigh(rows, cols, np.concatenate(counts), idf, n), n


def to_csr(rows, cols, weights, shape):
    """A float32 torch CSR matrix from (row, col, weight) entries sorted by row."""
    crow = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols.astype(np.int64)),
                                       torch.from_numpy(weights.astype(np.float32)), shape,
                                       check_invariants=True)


def lsa_factors(rows, cols, weights, n: int, dims: int, seed: int):
    """The randomised range finder with power iterations (Halko et al. 2011) on the sparse
    matrix: (used buckets, basis Q (n, w), X^T Q (buckets, w), eigenvalues and eigenvectors of
    Q^T X X^T Q, the indices of the ``dims`` largest). Where ``dims + LSA_OVERSAMPLE`` covers
    the whole rank (small inputs) the factors are exact. Buckets of a single text are dropped
    first: they change no inner product between two texts, and on real corpora they are most
    of the columns (so most of the cost)."""
    shared = np.bincount(cols)[cols] >= MIN_DF
    if shared.any():  # a bucket of one text adds nothing to any similarity between texts
        rows, cols, weights = rows[shared], cols[shared], weights[shared]
    used, cols = np.unique(cols, return_inverse=True)  # only the buckets some text uses
    shape = (n, len(used))
    matrix = to_csr(rows, cols, weights, shape)
    order = np.lexsort((rows, cols))  # the transpose, built as its own CSR: row-wise sums in order
    transpose = to_csr(cols[order], rows[order], weights[order], (shape[1], n))
    del order, rows, cols, weights
    width = min(dims + LSA_OVERSAMPLE, *shape)
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(matrix @ torch.randn(shape[1], width, generator=gen)).Q
    for _ in range(LSA_POWER):
        back = torch.linalg.qr(transpose @ basis).Q
        basis = torch.linalg.qr(matrix @ back).Q
    small = transpose @ basis
    values, vectors = torch.linalg.eigh((small.t() @ small).double())
    keep = torch.arange(len(values) - 1, max(-1, len(values) - 1 - dims), -1)
    return used, basis, small, values, vectors, keep


def lsa(rows, cols, weights, n: int, dims: int, seed: int):
    """(n, min(dims, rank)) leading left singular vectors times singular values of the sparse
    matrix (``lsa_factors``)."""
    _, basis, _, values, vectors, keep = lsa_factors(rows, cols, weights, n, dims, seed)
    # Q^T X X^T Q = W diag(s^2) W^T, so X's leading components are Q W diag(s).
    scale = values[keep].clamp(min=0.0).sqrt()
    return (basis.double() @ vectors[:, keep] * scale).float()


def lsa_projection(rows, cols, weights, n: int, dims: int, seed: int):
    """(used buckets, (len(used), d) float32 V) with the leading right singular vectors of the
    sample's matrix X, scaled so that x @ V gives any text its coordinates (X V = U S, what
    ``lsa`` returns for the sample itself). V = X^T Q W diag(1/s); directions of s = 0 get 0."""
    used, _, small, values, vectors, keep = lsa_factors(rows, cols, weights, n, dims, seed)
    scale = values[keep].clamp(min=0.0).sqrt()
    inverse = torch.where(scale > 0, 1.0 / scale.clamp(min=1e-300), torch.zeros_like(scale))
    return used, (small.double() @ vectors[:, keep] * inverse).float()


def embed_tfidf(texts: list[str], seed: int = 0, dims: int = DIMS):
    """(n, d) float32 numpy array: TF-IDF reduced to d = min(dims, rank) dimensions by LSA,
    rows l2-normalised (so k-means sees cosine geometry). A text with no words gets zeros."""
    rows, cols, weights, n = sparse_tfidf(texts)
    if len(weights) == 0:
        return np.zeros((n, 1), dtype=np.float32)
    reduced = lsa(rows, cols, weights, n, dims, seed)
    return torch.nn.functional.normalize(reduced, dim=1).numpy()


def top_terms(texts: list[str], groups: list[int], count: int = 8) -> dict[int, list[str]]:
    """Per group, the words whose mean tf-idf weight in the group most exceeds their mean
    weight over all texts (words of 3+ letters, not numbers or stop words). Ties sort
    alphabetically."""
    docs = [Counter(w for w in words(t) if len(w) >= 3 and not w.isdigit() and w not in STOPWORDS) for t in texts]
    n = len(docs)
    df = Counter(w for doc in docs for w in doc)
    idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
    overall: Counter = Counter()
    per_group: dict[int, Counter] = defaultdict(Counter)
    sizes = Counter(groups)
    for doc, group in zip(docs, groups):
        weights = {w: (1.0 + math.log(tf)) * idf[w] for w, tf in doc.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        for w, v in weights.items():
            overall[w] += v / norm / n
            per_group[group][w] += v / norm / sizes[group]
    out = {}
    for group, weights in per_group.items():
        scored = sorted(((weights[w] - overall[w], w) for w in weights), key=lambda p: (-p[0], p[1]))
        out[group] = [w for score, w in scored[:count] if score > 0]
    return out
