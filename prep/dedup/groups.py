"""Duplicate groups of a sequence of records: exact (normalised text) and near (MinHash + LSH).

Each record is known by its input ordinal (0, 1, ... over the good records), an exact key (128
bits of xxh3 over its normalised words; never Python's ``hash()``, which differs between
processes) and a uint32 MinHash signature (num_perm * 4 bytes). ``sign_texts`` makes both, in a
worker or here; ``Deduper`` holds the keys and, per signature, its LSH band keys (8 bytes a
band: 128 bytes a record at 16 bands, where the signature took 512), no text. ``candidates()`` takes the first
record of each exact key, finds LSH candidate pairs among them (prep.dedup.bands) and returns
them as ordinals; ``finish(pairs, shingles)`` checks each pair by the exact Jaccard of the two
shingle sets (``shingles``: for the ordinals in pairs only, read again by the caller) and joins
the pairs that reach the threshold with union-find. A group's leader is its smallest ordinal:
the record kept, whatever order the signatures were computed in.

Why exact Jaccard rather than the MinHash estimate: with 128 permutations the estimate's
standard deviation near 0.8 is sqrt(0.8 * 0.2 / 128) ~ 0.035, so pairs within a few points
of the threshold would be joined or not by chance; one set intersection per candidate costs
far less than the signatures themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import xxhash

from prep.core.shapes import main_text
from prep.dedup.bands import band_keys, pairs_of_keys
from prep.dedup.minhash import MinHasher, candidate_probability
from prep.dedup.shingles import buffer_of, exact_keys, jaccard, shingle_batch, shingle_sets

# Texts normalised and signed together: large enough for numpy to amortise its per-call cost.
BATCH_TEXTS = 1024


@dataclass(frozen=True)
class Settings:
    threshold: float = 0.8
    exact_only: bool = False
    num_perm: int = 128
    shingle: int = 5
    bands: int = 16
    rows: int = 8
    seed: int = 1
    signatures: str = "numpy"    # the MinHash engine: numpy or rensa (prep.dedup.minhash)


def hasher_of(settings: Settings) -> MinHasher | None:
    return None if settings.exact_only else MinHasher(settings.num_perm, settings.shingle, settings.seed,
                                                      settings.signatures)


def sign_texts(texts: list[str], hasher: MinHasher | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(exact keys as (m, 2) uint64, signatures (m, num_perm) uint32 or None) of texts."""
    if hasher is None:
        return exact_keys(*buffer_of(texts)), None
    keys, flat, offsets = shingle_batch(texts, hasher.shingle)
    return keys, hasher.signatures(flat, offsets)


# The exact key of a text with no words (``exact_keys`` of an empty span): xxh3-128 of b"".
WORDLESS_KEY = np.frombuffer(xxhash.xxh3_128_digest(b""), dtype=np.uint64)


def first_of_key(keys: np.ndarray) -> np.ndarray:
    """For each ordinal, the smallest ordinal with the same exact key."""
    if len(keys) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((keys[:, 1], keys[:, 0]))   # stable: equal keys stay in ordinal order
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)])
    runs = np.diff(np.r_[starts, len(order)])
    rep_of = np.empty(len(order), dtype=np.int64)
    rep_of[order] = np.repeat(order[starts], runs)
    return rep_of


@dataclass
class Groups:
    """Per ordinal: its group's leader (the kept ordinal) and its similarity to that leader."""
    leader: np.ndarray                  # int64
    size: np.ndarray                    # members per leader ordinal, the leader included
    similarity: np.ndarray              # to the leader; 1.0 for leaders and exact duplicates
    exact: np.ndarray                   # bool: same normalised text as the leader
    wordless: np.ndarray | None = None  # bool: no words to compare; never grouped (dropped as empty)
    partner: dict[int, tuple[int, float]] = field(default_factory=dict)  # strongest joined pair
    stats: dict = field(default_factory=dict)

    def explain(self, i: int, name: Callable[[int], str]) -> tuple[str, str]:
        """(reason, detail) for a dropped record: the kept one's name and the similarity."""
        kept = name(int(self.leader[i]))
        if self.exact[i]:
            return "exact-duplicate", f"same normalised text as {kept} (similarity 1.0)"
        detail = f"near duplicate of {kept} (jaccard {self.similarity[i]:.3f})"
        other, sim = self.partner.get(i, (self.leader[i], self.similarity[i]))
        if other != self.leader[i]:
            detail += f"; joined through {name(other)} (jaccard {sim:.3f})"
        return "near-duplicate", detail


class Deduper:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.hasher = hasher_of(settings)
        self.keys: list[np.ndarray] = []      # exact keys, in ordinal order
        self.blocks: list[np.ndarray] = []    # LSH band keys of the signatures, in ordinal order
        self.pending: list[str] = []          # texts given to add(), until signed
        self.rep_of = np.empty(0, dtype=np.int64)
        self.wordless = np.empty(0, dtype=bool)

    def add(self, text: str) -> None:
        """One text in memory (the next ordinal), signed here in batches."""
        self.pending.append(text)
        if len(self.pending) >= BATCH_TEXTS:
            self._sign()

    def _sign(self) -> None:
        if self.pending:
            self.add_signed(*sign_texts(self.pending, self.hasher))
            self.pending = []

    def add_signed(self, keys: np.ndarray, signatures: np.ndarray | None) -> None:
        """The next ordinals' exact keys and signatures, as ``sign_texts`` made them."""
        self.keys.append(keys)
        if signatures is not None:
            self.blocks.append(band_keys(signatures, self.settings.bands, self.settings.rows))

    def candidates(self) -> np.ndarray:
        """LSH candidate pairs (i, j), i < j, as ordinals, among the first of each exact key.
        The band keys are let go: the groups need only the pairs from here on."""
        self._sign()
        keys = np.concatenate([np.empty((0, 2), np.uint64), *self.keys])
        # A record with no words (a layout whose fields hold none, or empty fields) says nothing
        # it could duplicate: all such records share one key, and grouping them dropped every
        # one but the first of a whole file whose layout is not read. Each stays its own group.
        self.wordless = (keys == WORDLESS_KEY).all(axis=1)
        self.rep_of, self.keys = first_of_key(keys), []
        self.rep_of[self.wordless] = np.flatnonzero(self.wordless)
        reps = np.flatnonzero((self.rep_of == np.arange(len(self.rep_of))) & ~self.wordless)
        if self.hasher is None or len(reps) < 2:
            self.blocks = []
            return np.empty((0, 2), dtype=np.int64)
        keys, self.blocks = np.concatenate(self.blocks), []
        keys = keys[reps] if len(reps) < len(keys) else keys
        return reps[pairs_of_keys(keys)]

    def finish(self, pairs: np.ndarray, shingles: Mapping[int, np.ndarray]) -> Groups:
        """Groups from the candidate ``pairs``; ``shingles``: the shingle set of each ordinal in them."""
        parent: dict[int, int] = {}   # union-find over the ordinals in pairs only

        def find(i: int) -> int:
            while parent.get(i, i) != i:
                parent[i] = parent.get(parent[i], parent[i])   # path halving
                i = parent[i]
            return i

        partner: dict[int, tuple[int, float]] = {}
        checked = verified = 0
        for i, j in pairs.tolist():
            ri, rj = find(i), find(j)
            if ri == rj:
                continue  # already one group: the check could not change it
            checked += 1
            sim = jaccard(shingles[i], shingles[j])
            if sim < self.settings.threshold:
                continue
            verified += 1
            parent[max(ri, rj)] = min(ri, rj)
            for x, y in ((i, j), (j, i)):
                if sim > partner.get(x, (None, -1.0))[1]:
                    partner[x] = (y, sim)
        return self._groups(find, parent, partner, shingles, (len(pairs), checked, verified))

    def _groups(self, find, parent, partner, shingles, counts) -> Groups:
        rep_of = self.rep_of
        root = np.arange(len(rep_of))
        for i in parent:
            root[i] = find(i)
        leader = root[rep_of]
        exact = rep_of == leader
        similarity = np.ones(len(leader))
        near = np.flatnonzero(~exact).tolist()
        for i in near:
            similarity[i] = jaccard(shingles[int(rep_of[i])], shingles[int(leader[i])])
        partner = {i: partner[int(rep_of[i])] for i in near if int(rep_of[i]) in partner}
        groups = Groups(leader, np.bincount(leader, minlength=len(leader)), similarity, exact,
                        wordless=self.wordless, partner=partner)
        groups.stats = self._stats(groups, *counts)
        return groups

    def _stats(self, groups: Groups, candidates: int, checked: int, verified: int) -> dict:
        s = self.settings
        n = len(groups.leader)
        dropped = groups.leader != np.arange(n)
        exact = int(np.count_nonzero(dropped & groups.exact))
        stats = {"groups": n - int(np.count_nonzero(dropped)), "exact_duplicates": exact,
                 "near_duplicates": int(np.count_nonzero(dropped)) - exact,
                 "largest_group": int(groups.size.max(initial=0)),
                 "wordless": int(np.count_nonzero(groups.wordless)),
                 "candidate_pairs": candidates, "checked_pairs": checked, "verified_pairs": verified}
        if not s.exact_only:
            stats["minhash"] = {
                "threshold": s.threshold, "num_perm": s.num_perm, "shingle_words": s.shingle,
                "bands": s.bands, "rows": s.rows, "seed": s.seed, "signatures": s.signatures,
                "candidate_probability_at_threshold": round(
                    candidate_probability(s.threshold, s.bands, s.rows), 4)}
        return stats


def group_records(records: list[dict], settings: Settings) -> Groups:
    """Groups of records compared by their words (``main_text``), without any files."""
    deduper = Deduper(settings)
    for record in records:
        deduper.add(main_text(record))
    pairs = deduper.candidates()
    needed = np.unique(pairs).tolist()
    shingles = dict(zip(needed, shingle_sets([main_text(records[i]) for i in needed], settings.shingle)))
    return deduper.finish(pairs, shingles)
