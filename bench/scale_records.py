"""The records of bench/scale.py: instruction records of about 1 KB with known duplicates.

Made from the real instruction records of tests/data (every layout that reads as prompt and
response, code answers among them): each unique record joins real answers to about
ANSWER_CHARS characters under a real prompt, then replaces MUTATE_SHARE of its words with words
of other records, so that no two unique records are alike (two draws of the same answers share
about a third of their 5-word shingles, far under dedup's 0.8). EXACT_SHARE of the records repeat
an earlier one verbatim, NEAR_SHARE repeat one with WORDS_CHANGED words changed (a Jaccard
similarity of about 0.9 between their shingle sets). The same seed gives the same records, and
the first N records of a longer run are the records of a run of N.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from prep.core.records import read_records
from prep.core.shapes import Unusable, view

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["tests/data/layouts/*.json*", "tests/data/code/*.jsonl"]
EXACT_SHARE, NEAR_SHARE, WORDS_CHANGED = 0.10, 0.10, 2
ANSWER_CHARS, PROMPT_CHARS, MUTATE_SHARE = 800, 300, 0.1
# Duplicates repeat one of the first this many unique records: memory stays flat at any size.
KEPT_FOR_REPEATS = 50_000
UNIQUE, EXACT, NEAR = 0, 1, 2


def real_pairs() -> list[tuple[str, str]]:
    pairs = []
    for spec in SOURCES:
        for item in read_records(ROOT / spec):
            try:
                seen = view(item.record) if item.error is None else None
            except Unusable:
                continue
            if seen and seen[0] == "supervised" and seen[1].strip() and seen[2].strip():
                pairs.append((seen[1][:PROMPT_CHARS], seen[2]))
    return pairs


def write_records(path: Path, count: int, seed: int = 0) -> bytearray:
    """``count`` records into ``path``; what each one is (UNIQUE, EXACT or NEAR), in order."""
    pairs = real_pairs()
    words = [w for _, answer in pairs for w in answer.split()]
    rng = random.Random(seed)
    made: list[tuple[str, str]] = []
    kinds = bytearray()
    with path.open("w", encoding="utf-8") as fh:
        for n in range(count):
            roll = rng.random()
            if made and roll < EXACT_SHARE:
                prompt, answer = rng.choice(made)
                kinds.append(EXACT)
            elif made and roll < EXACT_SHARE + NEAR_SHARE:
                prompt, answer = rng.choice(made)
                tokens = answer.split(" ")
                for _ in range(WORDS_CHANGED):
                    tokens[rng.randrange(len(tokens))] = rng.choice(words)
                answer = " ".join(tokens)
                kinds.append(NEAR)
            else:
                prompt, answer = unique_pair(pairs, words, rng)
                kinds.append(UNIQUE)
                if len(made) < KEPT_FOR_REPEATS:
                    made.append((prompt, answer))
            fh.write(json.dumps({"id": f"r{n}", "input": prompt, "output": answer}, ensure_ascii=False) + "\n")
    return kinds


def unique_pair(pairs, words, rng) -> tuple[str, str]:
    prompt, answer = rng.choice(pairs)
    while len(answer) < ANSWER_CHARS:
        answer += "\n\n" + rng.choice(pairs)[1]
    tokens = answer[: ANSWER_CHARS + 200].split(" ")
    for i in rng.sample(range(len(tokens)), max(1, int(len(tokens) * MUTATE_SHARE))):
        tokens[i] = rng.choice(words)
    return prompt, " ".join(tokens)




def planted_in(kinds: bytearray, count: int) -> dict:
    """Exact and near duplicates among the first ``count`` records."""
    head = kinds[:count]
    return {"exact": head.count(EXACT), "near": head.count(NEAR)}
