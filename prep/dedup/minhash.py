"""MinHash signatures and LSH band choice; the normalised words texts are compared by.

Texts are compared after ``normalise`` (NFKC, casefold, punctuation to spaces, whitespace
collapsed); their shingle hashes come from prep.dedup.shingles. The top 32 bits of each 64-bit
shingle hash feed the permutations ``h_i(x) = ((a_i * x + b_i) mod 2**64) >> 32`` with random
64-bit a_i, b_i (multiply-add-shift, a strongly universal family from 32 to 32 bits that needs
nothing but wrapping uint64 arithmetic), evaluated for a whole batch of texts at once and
reduced per text with ``np.minimum.reduceat``; or rensa (Rust) takes the same 64-bit hashes.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

import numpy as np

from prep.core.errors import StageError

# Shingles per signature block: the (permutations x shingles) uint64 block is
# SIGNATURE_BATCH * num_perm * 8 bytes (4 MiB at 128 permutations); larger blocks fall out of
# the CPU caches and measured slower, smaller ones pay numpy's per-call cost more often.
SIGNATURE_BATCH = 4096
# Weights of the two LSH error areas when choosing bands and rows: every candidate is checked
# by its exact Jaccard, so a false positive only costs one check, while a miss is final.
FALSE_POSITIVE_WEIGHT = 0.05
FALSE_NEGATIVE_WEIGHT = 0.95

_PUNCTUATION = re.compile(r"[\W_]+")
# ASCII fast path of the same rule: letters and digits stay (lowercased), every other byte is
# a separator. On ASCII text NFKC changes nothing and casefold is lower().
ASCII_TABLE = bytes(c if chr(c).isalnum() else 0x20 for c in range(128)).lower() + bytes(range(128, 256))
_U64 = np.uint64
# Index of the high 32 bits of a uint64 seen as two uint32 values.
_HIGH_HALF = 1 if sys.byteorder == "little" else 0


def normal_bytes(text: str) -> bytes:
    """A text as compared, in UTF-8: NFKC, casefolded, every separator a space (runs kept)."""
    if text.isascii():
        return text.encode("ascii").translate(ASCII_TABLE)
    return _PUNCTUATION.sub(" ", unicodedata.normalize("NFKC", text).casefold()).encode("utf-8")


def normal_words(text: str) -> list[bytes]:
    """The words of a text as compared (UTF-8): ``normal_bytes`` split at the spaces."""
    return normal_bytes(text).split()


def normalise(text: str) -> str:
    """The normalised text: ``normal_words`` joined by single spaces."""
    return b" ".join(normal_words(text)).decode("utf-8")


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: spreads the polynomial's bits over all 64."""
    h ^= h >> _U64(30)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(27)
    h *= _U64(0x94D049BB133111EB)
    h ^= h >> _U64(31)
    return h


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
    hashes to rensa's Rust MinHash (``digest_matrix_from_flat_token_hashes``), ~4x faster per
    signature here (9 against 36 us for a 1 KB text, the copy out of rensa included). The two
    engines give different signatures of the same quality: every candidate is checked by its exact Jaccard either way.
    """

    def __init__(self, num_perm: int = 128, shingle: int = 5, seed: int = 1, engine: str = "numpy"):
        rng = np.random.Generator(np.random.PCG64(seed))
        self.num_perm = num_perm
        self.shingle = shingle
        self.seed = seed
        self.engine = engine
        self.a = rng.bit_generator.random_raw(num_perm).astype(np.uint64)
        self.b = rng.bit_generator.random_raw(num_perm).astype(np.uint64)

    def signatures(self, flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(texts, num_perm) uint32 signatures of texts given as their shingle hashes: text i's
        are flat[offsets[i]:offsets[i + 1]] (prep.dedup.shingles.shingle_batch).

        The block is laid out permutations x shingles so that each (permutation, text) minimum
        runs over contiguous memory, and the top 32 bits are read through a uint32 view
        instead of a shift pass. A text with no shingles (empty) keeps the all-ones signature,
        which matches only another empty text.
        """
        if self.engine == "rensa":
            return self._rensa(flat, offsets)
        lengths = np.diff(offsets)
        out = np.full((len(lengths), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        filled = np.flatnonzero(lengths)
        if len(filled) == 0:
            return out
        keys = flat >> _U64(32)          # empty texts hold no hashes: flat is the filled ones'
        ends = np.cumsum(lengths[filled])
        first = 0
        while first < len(filled):
            # Texts [first, last) whose shingles fit in one block (always at least one text).
            start = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, start + SIGNATURE_BATCH, "right")))
            block = np.multiply.outer(self.a, keys[start:ends[last - 1]])
            block += self.b[:, None]
            high = block.view(np.uint32)[:, _HIGH_HALF::2]
            starts = (ends[first:last] - lengths[filled[first:last]]) - start
            out[filled[first:last]] = np.minimum.reduceat(high, starts, axis=1).T
            first = last
        return out

    def _rensa(self, flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        try:   # rensa: a core dependency, imported only when asked for
            from rensa import RMinHash
        except ImportError as exc:
            raise StageError("--signatures rensa needs rensa: pip install rensa") from exc
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets.astype(np.uint64), self.num_perm,
                                                               self.seed)
        # to_rows: lists of ints, the one way out of rensa's matrix (~7 us a row of 128).
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(offsets) - 1, self.num_perm)


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
