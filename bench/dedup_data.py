"""Generated documents for the dedup benchmark: Zipf-like random words, planted edited copies.

Documents are sentences of words drawn with Zipf-like frequencies from a made-up vocabulary.
A share of them are copies of others with 0.5-2% of their words substituted, inserted or
deleted (true 5-word-shingle Jaccard roughly 0.8-0.95), shuffled among the rest.
"""
from __future__ import annotations

import numpy as np

DOC_CHARS = 1000          # target document size in characters
VOCABULARY = 4000         # distinct words
ZIPF_EXPONENT = 1.05      # word frequency ~ 1 / (rank + 2.7) ** exponent
DUP_FRACTION = 0.10       # share of documents planted as edited copies
EDIT_RATE = (0.005, 0.02)  # share of a copy's words edited, uniform in this range
SHINGLE = 5


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pronounceable made-up words and their Zipf-like probabilities."""
    onsets = list("bcdfghjklmnprstvwz") + ["st", "tr", "pl", "ch", "sh", "gr"]
    vowels = list("aeiou") + ["ea", "ou", "ai"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        syllables = rng.integers(1, 4)
        words.add("".join(onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                          for _ in range(syllables)))
    ranked = np.array(sorted(words, key=lambda w: (len(w), w)))  # short words are the common ones
    weights = 1.0 / (np.arange(len(ranked)) + 2.7) ** ZIPF_EXPONENT
    return ranked, weights / weights.sum()


def document(rng, words, probs) -> list[str]:
    """About DOC_CHARS characters of sentences, as a word list (punctuation attached)."""
    out: list[str] = []
    size = 0
    while size < DOC_CHARS:
        sentence = list(rng.choice(words, size=int(rng.integers(6, 20)), p=probs))
        sentence[0] = sentence[0].capitalize()
        sentence[-1] += "." if rng.random() < 0.85 else ","
        out += sentence
        size += sum(len(w) + 1 for w in sentence)
    return out


def edit(rng, doc: list[str], words, probs) -> list[str]:
    copy = list(doc)
    for _ in range(max(1, round(len(doc) * rng.uniform(*EDIT_RATE)))):
        at = int(rng.integers(len(copy)))
        action = rng.integers(3)
        if action == 0:
            copy[at] = str(rng.choice(words, p=probs))
        elif action == 1:
            copy.insert(at, str(rng.choice(words, p=probs)))
        elif len(copy) > SHINGLE * 2:
            del copy[at]
    return copy


def generate(n: int, seed: int = 7) -> tuple[list[dict], list[int], dict[int, float]]:
    """Records, the planted group of each (its original's index) and, for each copy's
    position, its true Jaccard to its original."""
    rng = np.random.default_rng(seed)
    words, probs = vocabulary(rng)
    n_copies = int(n * DUP_FRACTION)
    docs = [document(rng, words, probs) for _ in range(n - n_copies)]
    group = list(range(len(docs)))
    truths = []
    for source in rng.integers(0, len(docs), size=n_copies).tolist():
        docs.append(edit(rng, docs[source], words, probs))
        group.append(source)
        truths.append(true_jaccard(docs[source], docs[-1]))
    order = rng.permutation(n)
    records = [{"id": f"doc{k:05d}", "text": " ".join(docs[i])} for k, i in enumerate(order)]
    copies = {k: truths[i - (n - n_copies)] for k, i in enumerate(order.tolist()) if i >= n - n_copies}
    return records, [group[i] for i in order], copies


def true_jaccard(a: list[str], b: list[str]) -> float:
    """Ground truth from plain Python sets of word 5-tuples (lowercase, punctuation off)."""
    def grams(doc):
        w = [x.strip(".,").lower() for x in doc]
        return {tuple(w[i:i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}
    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb)
