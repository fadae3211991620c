"""MinHash signatures, LSH banding and exact Jaccard, vectorised with numpy.

Texts are compared after ``normalise`` (NFKC, casefold, punctuation to spaces, whitespace
collapsed). A text's shingles are its k-word windows; texts under ``2 * k`` words use
character windows instead, since a handful of word windows makes every small edit look like
a new text. Each shingle is hashed once to 64 bits (xxh3 on words, a polynomial over the word
hashes for the window, then a splitmix64 finaliser); the top 32 bits feed the permutations
``h_i(x) = ((a_i * x + b_i) mod 2**64) >> 32`` with random 64-bit a_i, b_i (multiply-add-shift,
a strongly universal family from 32 to 32 bits that needs nothing but wrapping uint64
arithmetic), evaluated for a whole batch
of texts at once and reduced per text with ``np.minimum.reduceat``.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from itertools import chain

import numpy as np
import xxhash

from prep.core.errors import StageError

# Characters per window for texts too short for word windows.
CHAR_SHINGLE = 5
# Shingles per signature block: the (permutations x shingles) uint64 block is
# SIGNATURE_BATCH * num_perm * 8 bytes (4 MiB at 128 permutations); larger blocks fall out of
# the CPU caches and measured slower, smaller ones pay numpy's per-call cost more often.
SIGNATURE_BATCH = 4096
# Odd multiplier of the polynomial that folds k word hashes into one window hash.
WINDOW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Weights of the two LSH error areas when choosing bands and rows: every candidate is checked
# by its exact Jaccard, so a false positive only costs one check, while a miss is final.
FALSE_POSITIVE_WEIGHT = 0.05
FALSE_NEGATIVE_WEIGHT = 0.95

_PUNCTUATION = re.compile(r"[\W_]+")
# ASCII fast path of the same rule: letters and digits stay (lowercased), every other byte is
# a separator. On ASCII text NFKC changes nothing and casefold is lower().
_ASCII_TABLE = bytes(c if chr(c).isalnum() else 0x20 for c in range(128)).lower() + bytes(range(128, 256))
_U64 = np.uint64
# Index of the high 32 bits of a uint64 seen as two uint32 values.
_HIGH_HALF = 1 if sys.byteorder == "little" else 0


def normal_words(text: str) -> list[bytes]:
    """The words of a text as compared (UTF-8): NFKC, casefolded, punctuation as separators."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_TABLE).split()
    text = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", text).encode("utf-8").split()


def normalise(text: str) -> str:
    """The normalised text: ``normal_words`` joined by single spaces."""
    return b" ".join(normal_words(text)).decode("utf-8")


def exact_key(words: list[bytes]) -> int:
    """128-bit fingerprint of normalised words: equal keys mean exact duplicates."""
    return xxhash.xxh3_128_intdigest(b" ".join(words))


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: spreads the polynomial's bits over all 64."""
    h ^= h >> _U64(30)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(27)
    h *= _U64(0x94D049BB133111EB)
    h ^= h >> _U64(31)
    return h


def _word_windows(word_hashes: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """Hashes of every k-word window of several texts whose word hashes are concatenated.

    The fold runs over the whole concatenation at once; windows that straddle two texts
    are then left out by index.
    """
    m = len(word_hashes) - k + 1
    h = word_hashes[:m].copy()
    for i in range(1, k):
        h *= WINDOW_MULTIPLIER
        h += word_hashes[i:i + m]
    counts = lengths - k + 1
    starts = np.cumsum(lengths) - lengths                  # first word of each text
    firsts = np.cumsum(counts) - counts                    # first window of each text
    index = np.arange(counts.sum()) + np.repeat(starts - firsts, counts)
    return mix(h[index])


def _char_windows(words: list[bytes]) -> np.ndarray:
    text = b" ".join(words).decode("utf-8")
    if not text:
        return np.empty(0, dtype=np.uint64)
    count = max(1, len(text) - CHAR_SHINGLE + 1)
    grams = {text[i:i + CHAR_SHINGLE].encode("utf-8") for i in range(count)}
    return np.fromiter(map(xxhash.xxh3_64_intdigest, grams), dtype=np.uint64, count=len(grams))


def shingle_hashes(word_lists: list[list[bytes]], k: int) -> list[np.ndarray]:
    """The 64-bit shingle hashes of each text's normalised words (repeats kept, unsorted)."""
    long_ones = [i for i, w in enumerate(word_lists) if len(w) >= 2 * k]
    out = [np.empty(0, np.uint64) if len(w) >= 2 * k else _char_windows(w) for w in word_lists]
    if long_ones:
        lengths = np.array([len(word_lists[i]) for i in long_ones], dtype=np.int64)
        flat = list(chain.from_iterable(word_lists[i] for i in long_ones))
        hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, flat), dtype=np.uint64, count=len(flat))
        windows = _word_windows(hashes, lengths, k)
        for i, part in zip(long_ones, np.split(windows, np.cumsum(lengths - k + 1)[:-1])):
            out[i] = part
    return out


def shingle_set(text: str, k: int) -> np.ndarray:
    """Sorted unique shingle hashes of one text, for exact Jaccard."""
    return np.unique(shingle_hashes([normal_words(text)], k)[0])


def shingle_sets(texts: list[str], k: int) -> list[np.ndarray]:
    """``shingle_set`` of many texts, hashed together (numpy's per-call cost paid once)."""
    return [np.unique(h) for h in shingle_hashes([normal_words(t) for t in texts], k)]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique hash arrays; two empty sets count as equal."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def rensa_version() -> str | None:
    """The installed rensa's version (a Rust MinHash, the ``bench`` extra), or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("rensa")
    except PackageNotFoundError:
        return None


class MinHasher:
    """MinHash signatures of ``num_perm`` uint32 values; the same seed gives the same values.

    ``engine`` "numpy" evaluates the permutations below; "rensa" hands the same 64-bit shingle
    hashes to rensa's Rust MinHash (``digest_matrix_from_flat_token_hashes``), ~6x faster per
    signature here (1.8 against 60 us for a 1 KB text). The two engines give different
    signatures of the same quality: every candidate is checked by its exact Jaccard either way.
    """

    def __init__(self, num_perm: int = 128, shingle: int = 5, seed: int = 1, engine: str = "numpy"):
        rng = np.random.Generator(np.random.PCG64(seed))
        self.num_perm = num_perm
        self.shingle = shingle
        self.seed = seed
        self.engine = engine
        self.a = rng.bit_generator.random_raw(num_perm).astype(np.uint64)
        self.b = rng.bit_generator.random_raw(num_perm).astype(np.uint64)

    def signatures(self, word_lists: list[list[bytes]]) -> np.ndarray:
        """(len(word_lists), num_perm) uint32 signatures of texts given as ``normal_words``.

        The block is laid out permutations x shingles so that each (permutation, text) minimum
        runs over contiguous memory, and the top 32 bits are read through a uint32 view
        instead of a shift pass. A text with no shingles (empty) keeps the all-ones signature,
        which matches only another empty text.
        """
        hashes = shingle_hashes(word_lists, self.shingle)
        if self.engine == "rensa":
            return self._rensa(hashes)
        lengths = np.array([len(h) for h in hashes], dtype=np.int64)
        out = np.full((len(word_lists), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        filled = np.flatnonzero(lengths)
        if len(filled) == 0:
            return out
        keys = np.concatenate([hashes[i] for i in filled]) >> _U64(32)
        ends = np.cumsum(lengths[filled])
        first = 0
        while first < len(filled):
            # Texts [first, last) whose shingles fit in one block (always at least one text).
            start = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, start + SIGNATURE_BATCH, "right")))
            block = np.multiply.outer(self.a, keys[start:ends[last - 1]])
            block += self.b[:, None]
            high = block.view(np.uint32)[:, _HIGH_HALF::2]
            offsets = (ends[first:last] - lengths[filled[first:last]]) - start
            out[filled[first:last]] = np.minimum.reduceat(high, offsets, axis=1).T
            first = last
        return out


    def _rensa(self, hashes: list[np.ndarray]) -> np.ndarray:
        try:   # rensa: optional (the bench extra), imported only when asked for
            from rensa import RMinHash
        except ImportError as exc:
            raise StageError("--signatures rensa needs rensa: pip install rensa") from exc
        flat = np.concatenate([np.empty(0, np.uint64), *hashes])
        offsets = np.zeros(len(hashes) + 1, dtype=np.uint64)
        np.cumsum([len(h) for h in hashes], out=offsets[1:])
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, self.num_perm, self.seed)
        # to_rows: lists of ints, the one way out of rensa's matrix (~7 us a row of 128).
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(hashes), self.num_perm)


@lru_cache(maxsize=64)
def choose_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted LSH error areas.

    A pair of similarity s becomes a candidate with probability 1 - (1 - s**rows)**bands;
    the false positive area is that curve over [0, threshold], the false negative area its
    complement over [threshold, 1].
    """
    below = np.linspace(0.0, threshold, 201)
    above = np.linspace(threshold, 1.0, 201)
    best = (np.inf, 1, num_perm)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(1 - (1 - below ** rows) ** bands, below)
            fn = np.trapezoid((1 - above ** rows) ** bands, above)
            cost = FALSE_POSITIVE_WEIGHT * fp + FALSE_NEGATIVE_WEIGHT * fn
            if cost < best[0]:
                best = (cost, bands, rows)
    return best[1], best[2]


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - similarity ** rows) ** bands
