"""Normalised texts and their shingle hashes, a whole batch of texts at a time.

A batch of texts becomes one byte buffer of their normalised forms (``minhash.normal_words``
joined by single spaces, one space between texts); words, exact keys and shingle hashes are
then read off that buffer with numpy, so that no Python object is made per word or shingle.

A word's 64-bit hash is built here from its bytes: each 8-byte chunk (zero-padded past the
word's end) goes through the splitmix64 finaliser with its chunk number, the chunk hashes are
summed and mixed again with the word's length. Written by hand because xxhash (or any hash
library on PyPI) hashes one Python bytes object per call, and at ~5 bytes a word the call
costs more than the hashing (~60 us of the ~100 us a 1 KB text took). A window of k words
folds its word hashes as a polynomial and is mixed once more (``minhash.mix``). Texts under
``2 * k`` words use 5-character windows (xxh3 of each, few enough to hash one by one).
"""
from __future__ import annotations

import numpy as np
import xxhash

from prep.dedup.minhash import mix, normal_bytes

# Characters per window for texts too short for word windows.
CHAR_SHINGLE = 5
# Odd multiplier of the polynomial that folds k word hashes into one window hash.
WINDOW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Odd constants that make a chunk's number and a word's length part of its hash.
CHUNK_STEP = np.uint64(0xD6E8FEB86659FD93)
LENGTH_STEP = np.uint64(0xA0761D6478BD642F)
# MASKS[r]: the low r bytes of a little-endian uint64 chunk (r = 1..8 bytes of the word left).
MASKS = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)
SPACE = 0x20


def buffer_of(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buffer, starts, ends): the texts' normalised forms, text i at buffer[starts[i]:ends[i]]."""
    parts = [normal_bytes(t) for t in texts]
    raw = np.frombuffer(b" ".join(parts), dtype=np.uint8)
    sizes = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    begin = np.cumsum(sizes + 1) - sizes - 1                 # where each text starts in raw
    space = raw == SPACE
    keep = ~space
    keep[1:] |= ~space[:-1]                                  # the first space of each run stays
    before = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(keep, out=before[1:])                          # kept bytes before each raw index
    buf = raw[keep]
    starts, ends = before[begin], before[begin + sizes]
    # One leading or trailing space may remain inside a text's span: trim it.
    filled = ends > starts
    starts = starts + (filled & (buf[np.minimum(starts, len(buf) - 1)] == SPACE) if len(buf) else 0)
    filled = ends > starts
    ends = ends - (filled & (buf[np.maximum(ends - 1, 0)] == SPACE) if len(buf) else 0)
    return buf, starts, ends


def exact_keys(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(n, 2) uint64: xxh3-128 of each normalised text (equal keys mean exact duplicates)."""
    view = memoryview(buf)
    digests = b"".join(xxhash.xxh3_128_digest(view[s:e]) for s, e in zip(starts.tolist(), ends.tolist()))
    return np.frombuffer(digests, dtype=np.uint64).reshape(len(starts), 2)


def word_hashes(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, starts) of every word in the buffer, in order."""
    letter = buf != SPACE
    edges = np.flatnonzero(np.diff(np.r_[False, letter, False].view(np.int8)))
    first, end = edges[::2], edges[1::2]
    length = end - first
    chunks = (length + 7) >> 3
    where = np.cumsum(chunks) - chunks                       # each word's first chunk
    number = np.arange(int(chunks.sum())) - np.repeat(where, chunks)
    padded = np.concatenate([buf, np.zeros(8, np.uint8)])
    # Every byte offset read as a little-endian uint64 (an unaligned view, nothing copied).
    wide = np.ndarray(shape=(len(buf),), dtype="<u8", buffer=padded, strides=(1,))
    at = np.repeat(first, chunks) + 8 * number
    left = np.minimum(np.repeat(length, chunks) - 8 * number, 8)
    value = (wide[at] & MASKS[left]).astype(np.uint64) + number.astype(np.uint64) * CHUNK_STEP
    summed = np.add.reduceat(mix(value), where) if len(where) else np.empty(0, np.uint64)
    return mix(summed + length.astype(np.uint64) * LENGTH_STEP), first


def word_windows(hashes: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """Hashes of every k-word window of texts whose word hashes are concatenated (lengths >= k).

    The fold runs over the whole concatenation at once; windows that straddle two texts
    are then left out by index.
    """
    m = len(hashes) - k + 1
    h = hashes[:m].copy()
    for i in range(1, k):
        h *= WINDOW_MULTIPLIER
        h += hashes[i:i + m]
    counts = lengths - k + 1
    starts = np.cumsum(lengths) - lengths                    # first word of each text
    firsts = np.cumsum(counts) - counts                      # first window of each text
    index = np.arange(counts.sum()) + np.repeat(starts - firsts, counts)
    return mix(h[index])


def char_windows(text: bytes) -> np.ndarray:
    """Hashes of the distinct 5-character windows of a short normalised text."""
    chars = text.decode("utf-8")
    if not chars:
        return np.empty(0, dtype=np.uint64)
    count = max(1, len(chars) - CHAR_SHINGLE + 1)
    grams = {chars[i:i + CHAR_SHINGLE].encode("utf-8") for i in range(count)}
    return np.fromiter(map(xxhash.xxh3_64_intdigest, grams), dtype=np.uint64, count=len(grams))


def shingle_batch(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact keys (n, 2), flat shingle hashes, offsets (n + 1)): text i's shingle hashes are
    flat[offsets[i]:offsets[i + 1]] (repeats kept, unsorted)."""
    buf, starts, ends = buffer_of(texts)
    keys = exact_keys(buf, starts, ends)
    hashes, first = word_hashes(buf)
    owner = np.searchsorted(starts, first, side="right") - 1   # the text each word is in
    words = np.bincount(owner, minlength=len(texts))
    long = words >= 2 * k
    short = np.flatnonzero(~long).tolist()
    chars = [char_windows(buf[starts[i]:ends[i]].tobytes()) for i in short]
    counts = np.where(long, words - k + 1, 0)
    counts[short] = [len(c) for c in chars]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.empty(offsets[-1], dtype=np.uint64)
    if long.any():
        flat[np.repeat(long, counts)] = word_windows(hashes[long[owner]], words[long], k)
    for i, c in zip(short, chars):
        flat[offsets[i]:offsets[i + 1]] = c
    return keys, flat, offsets


def shingle_sets(texts: list[str], k: int) -> list[np.ndarray]:
    """Sorted unique shingle hashes of each text, for exact Jaccard."""
    _, flat, offsets = shingle_batch(texts, k)
    return [np.unique(flat[a:b]) for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique hash arrays; two empty sets count as equal."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)
