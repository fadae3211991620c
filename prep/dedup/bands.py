"""LSH candidate pairs, partitioned: each (band, bucket) key goes to partition ``key % P``.

A band's ``rows`` signature values fold into one 64-bit bucket key. Every entry (band, key,
ordinal) lands in the partition ``key % P``, so a bucket lives whole in one partition; inside a
partition one sort by (band, key, ordinal) puts each bucket's members next to each other in
input order, and comparing the sorted entries at distance d (1..window) yields every pair at
most ``window`` apart inside a bucket. No structure is built per bucket: a dict or a group per
bucket was 50x slower and took 6 GB in a trial, where a partition costs three flat arrays.
Partitions are independent, so peak memory beyond the keys is one partition's entries, and the
result does not depend on P (the tests check it).
"""
from __future__ import annotations

import numpy as np

# Odd multiplier of the polynomial that folds a band's values into one key (as minhash.py's
# window hash).
FOLD_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# A bucket with more members than this pairs each one only with its next WINDOW members (in
# input order), so one huge bucket of templated texts cannot make the pair count quadratic.
BUCKET_WINDOW = 64
# Entries (one per record and band) per partition: 4M entries are ~100 MB of sort arrays.
PARTITION_ENTRIES = 1 << 22


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(records, bands) uint64: each band's ``rows`` values folded into one bucket key."""
    keys = np.empty((len(signatures), bands), dtype=np.uint64)
    for band in range(bands):
        cols = signatures[:, band * rows:(band + 1) * rows].astype(np.uint64)
        key = cols[:, 0].copy()
        for c in range(1, rows):
            key *= FOLD_MULTIPLIER
            key += cols[:, c]
        keys[:, band] = key
    return keys


def partitions_for(records: int, bands: int) -> int:
    """How many partitions keep each one near PARTITION_ENTRIES entries (at least 1)."""
    return max(1, -(-records * bands // PARTITION_ENTRIES))


def partition_pairs(band: np.ndarray, key: np.ndarray, ordinal: np.ndarray, n: int,
                    window: int = BUCKET_WINDOW) -> np.ndarray:
    """Codes ``i * n + j`` (i < j) of the pairs one partition's entries give."""
    order = np.lexsort((ordinal, key, band))
    band, key, ordinal = band[order], key[order], ordinal[order]
    codes = [np.empty(0, dtype=np.int64)]
    for d in range(1, min(window, len(key) - 1) + 1):
        same = (key[:-d] == key[d:]) & (band[:-d] == band[d:])
        if not same.any():
            break   # no bucket holds d + 1 members, so none holds more
        codes.append(ordinal[:-d][same] * n + ordinal[d:][same])
    return np.concatenate(codes)


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int, partitions: int | None = None,
                    window: int = BUCKET_WINDOW) -> np.ndarray:
    """Sorted unique (i, j), i < j, of signature rows sharing all rows of at least one band."""
    return pairs_of_keys(band_keys(signatures, bands, rows), partitions, window)


def pairs_of_keys(keys: np.ndarray, partitions: int | None = None, window: int = BUCKET_WINDOW) -> np.ndarray:
    """``candidate_pairs`` from the (records, bands) bucket keys ``band_keys`` gives."""
    n, bands = keys.shape
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    count = partitions or partitions_for(n, bands)
    part = keys % np.uint64(count)
    codes = [np.empty(0, dtype=np.int64)]
    for p in range(count):
        ordinal, band = np.nonzero(part == p)   # row-major: ordinals ascending
        if len(ordinal) > 1:
            codes.append(partition_pairs(band, keys[ordinal, band], ordinal.astype(np.int64), n, window))
    unique = np.unique(np.concatenate(codes))
    return np.stack([unique // n, unique % n], axis=1)
