"""Duplicate groups of a sequence of texts: exact (normalised text) and near (MinHash + LSH).

``Deduper.add(text)`` takes texts in input order and keeps only an index, a 128-bit key and,
for the first text of each exact key, a uint32 MinHash signature (num_perm * 4 bytes).
``finish(text_of)`` finds LSH candidates among those first texts, checks each candidate by
the exact Jaccard of the two shingle sets (recomputed from ``text_of(i)`` for candidates
only, so shingle sets are never held for every text), and joins the pairs that reach the
threshold with union-find. Each group's leader is its smallest index: the record kept.

Why exact Jaccard rather than the MinHash estimate: with 128 permutations the estimate's
standard deviation near 0.8 is sqrt(0.8 * 0.2 / 128) ~ 0.035, so pairs within a few points
of the threshold would be joined or not by chance; one set intersection per candidate costs
far less than the signatures themselves.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from prep.core.shapes import main_text
from prep.dedup.minhash import (
    MinHasher,
    candidate_pairs,
    candidate_probability,
    exact_key,
    jaccard,
    normal_words,
    shingle_set,
)

# Texts normalised and signed together: large enough for numpy to amortise its per-call cost.
BATCH_TEXTS = 1024


@dataclass
class Settings:
    threshold: float = 0.8
    exact_only: bool = False
    num_perm: int = 128
    shingle: int = 5
    bands: int = 16
    rows: int = 8
    seed: int = 1


@dataclass
class Groups:
    """Per text: its group's leader (the kept index) and its similarity to that leader."""
    leader: list[int]
    size: Counter                       # leader -> members, the leader included
    similarity: list[float]             # to the leader; 1.0 for leaders and exact duplicates
    exact: list[bool]                   # same normalised text as the leader
    partner: dict[int, tuple[int, float]] = field(default_factory=dict)  # strongest joined pair
    stats: dict = field(default_factory=dict)

    def explain(self, i: int, name: Callable[[int], str]) -> tuple[str, str]:
        """(reason, detail) for a dropped text: the kept one's name and the similarity."""
        kept = name(self.leader[i])
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
        self.hasher = None if settings.exact_only else MinHasher(settings.num_perm, settings.shingle,
                                                                 settings.seed)
        self.first_of: dict[int, int] = {}    # exact key -> first index with that key
        self.rep_of: list[int] = []           # index -> first index with the same key
        self.reps: list[int] = []             # the first indices, in order
        self.pending: list[list[bytes]] = []  # their normalised words, until signed
        self.blocks: list[np.ndarray] = []    # signatures of self.reps, in order

    def add(self, text: str) -> int:
        words = normal_words(text)
        index = len(self.rep_of)
        rep = self.first_of.setdefault(exact_key(words), index)
        self.rep_of.append(rep)
        if rep == index and self.hasher is not None:
            self.reps.append(index)
            self.pending.append(words)
            if len(self.pending) >= BATCH_TEXTS:
                self._sign()
        return index

    def _sign(self) -> None:
        if self.pending:
            self.blocks.append(self.hasher.signatures(self.pending))
            self.pending = []

    def finish(self, text_of: Callable[[int], str]) -> Groups:
        s = self.settings
        parent = list(range(len(self.rep_of)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]   # path halving
                i = parent[i]
            return i

        cache: dict[int, np.ndarray] = {}

        def shingles(i: int) -> np.ndarray:
            if i not in cache:
                cache[i] = shingle_set(text_of(i), s.shingle)
            return cache[i]

        partner: dict[int, tuple[int, float]] = {}
        pairs = self._candidates()
        checked = verified = 0
        for a, b in pairs.tolist():
            i, j = self.reps[a], self.reps[b]
            ri, rj = find(i), find(j)
            if ri == rj:
                continue  # already one group: the check could not change it
            checked += 1
            sim = jaccard(shingles(i), shingles(j))
            if sim < s.threshold:
                continue
            verified += 1
            parent[max(ri, rj)] = min(ri, rj)
            for x, y in ((i, j), (j, i)):
                if sim > partner.get(x, (None, -1.0))[1]:
                    partner[x] = (y, sim)
        leader = [find(r) for r in self.rep_of]
        exact = [self.rep_of[i] == leader[i] for i in range(len(leader))]
        similarity = [1.0 if exact[i] else jaccard(shingles(self.rep_of[i]), shingles(leader[i]))
                      for i in range(len(leader))]
        partner = {i: partner[self.rep_of[i]] for i in range(len(leader))
                   if not exact[i] and self.rep_of[i] in partner}
        groups = Groups(leader, Counter(leader), similarity, exact, partner)
        groups.stats = self._stats(groups, len(pairs), checked, verified)
        return groups

    def _candidates(self) -> np.ndarray:
        if self.hasher is None or len(self.reps) < 2:
            return np.empty((0, 2), dtype=np.int64)
        self._sign()
        signatures = np.concatenate(self.blocks)
        return candidate_pairs(signatures, self.settings.bands, self.settings.rows)

    def _stats(self, groups: Groups, candidates: int, checked: int, verified: int) -> dict:
        s = self.settings
        dropped = [i for i, lead in enumerate(groups.leader) if lead != i]
        exact = sum(groups.exact[i] for i in dropped)
        stats = {"groups": len(groups.size), "exact_duplicates": exact,
                 "near_duplicates": len(dropped) - exact,
                 "largest_group": max(groups.size.values(), default=0),
                 "candidate_pairs": candidates, "checked_pairs": checked, "verified_pairs": verified}
        if not s.exact_only:
            stats["minhash"] = {
                "threshold": s.threshold, "num_perm": s.num_perm, "shingle_words": s.shingle,
                "bands": s.bands, "rows": s.rows, "seed": s.seed,
                "candidate_probability_at_threshold": round(
                    candidate_probability(s.threshold, s.bands, s.rows), 4)}
        return stats


def group_records(records: list[dict], settings: Settings) -> Groups:
    """Groups of records compared by their words (``main_text``), without any files."""
    deduper = Deduper(settings)
    for record in records:
        deduper.add(main_text(record))
    return deduper.finish(lambda i: main_text(records[i]))
