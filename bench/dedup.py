"""Dedup speed, recall and precision on generated ~1 KB documents with planted near duplicates.

    .venv/bin/python bench/dedup.py [--quick] [--docs N]

Documents are sentences of random words drawn with Zipf-like frequencies from a generated
vocabulary. 10% of the documents are copies of others with 0.5-2% of their words substituted,
inserted or deleted (true 5-word-shingle Jaccard roughly 0.8-0.95), shuffled among the rest.
A dropped document is a true positive when it was planted in the same group as the record
kept in its place. The baseline is a plain Python MinHash (sha1 per shingle, then a loop over
the permutations per shingle, dict buckets, Python-set Jaccard) run on a subset; its docs/s
is compared with the numpy stage's. Writes bench/results/dedup.{json,md}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, command, describe, device_info, table, write_results

from prep.core.stage import sidecar
from prep.dedup.groups import Settings, group_records
from prep.dedup.minhash import choose_bands

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


def missed(leader: list[int], group: list[int], copies: dict[int, float]) -> list[float]:
    """True Jaccard of each planted copy that did not end up in its original's group."""
    position = {g: i for i, g in enumerate(group) if i not in copies}   # where each original is
    return sorted(j for i, j in copies.items() if leader[i] != leader[position[group[i]]])


def score(leader: list[int], group: list[int]) -> dict:
    dropped = [i for i, lead in enumerate(leader) if lead != i]
    hits = sum(group[i] == group[leader[i]] for i in dropped)
    sizes = np.bincount(group)
    should_drop = int((sizes[sizes > 0] - 1).sum())
    return {"dropped": len(dropped), "true_positives": hits, "planted": should_drop,
            "recall": hits / should_drop if should_drop else 1.0,
            "precision": hits / len(dropped) if dropped else 1.0}


def baseline_groups(texts: list[str], threshold: float, num_perm: int, bands: int, rows: int) -> list[int]:
    """The tutorial way: per shingle a sha1, then a Python loop over the permutations."""
    prime, mask = (1 << 61) - 1, (1 << 32) - 1
    rng = np.random.default_rng(1)
    perms = [(int(a), int(b)) for a, b in rng.integers(1, prime, size=(num_perm, 2))]
    sets, signatures = [], []
    for text in texts:
        words = text.lower().replace(".", " ").replace(",", " ").split()
        shingles = {" ".join(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
        mins = [mask] * num_perm
        for shingle in shingles:
            h = int.from_bytes(hashlib.sha1(shingle.encode("utf-8")).digest()[:4], "little")
            for k, (a, b) in enumerate(perms):
                v = ((a * h + b) % prime) & mask
                if v < mins[k]:
                    mins[k] = v
        sets.append(shingles)
        signatures.append(mins)
    leader = list(range(len(texts)))
    for band in range(bands):
        buckets: dict[tuple, list[int]] = {}
        for i, sig in enumerate(signatures):
            buckets.setdefault(tuple(sig[band * rows:(band + 1) * rows]), []).append(i)
        for members in buckets.values():
            for x in members[1:]:
                a, b = sets[members[0]], sets[x]
                if len(a & b) / len(a | b) >= threshold:
                    leader[x] = min(leader[x], leader[members[0]])
    return leader


def run_cli(records: list[dict]) -> tuple[float, float, dict]:
    """The whole stage with its I/O: JSONL in, JSONL + stats + rejects out (its own parser,
    so the figure does not include importing the other commands)."""
    from prep.dedup import stage as dedup
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        parser = argparse.ArgumentParser()
        dedup.add_arguments(parser)
        args = parser.parse_args(["--input", str(src), "--output", str(out), "--quiet"])
        seconds, cpu, code = best_of(lambda: dedup.run(args), 1)
        assert code == 0, f"dedup exited with {code}"
        return seconds, cpu, json.loads(sidecar(out, ".stats.json").read_text())  # named by the stage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 documents instead of 20,000")
    parser.add_argument("--docs", type=int, default=None, help="number of documents (overrides --quick)")
    parser.add_argument("--baseline-docs", type=int, default=None,
                        help="documents the pure-Python baseline runs on (default: 1,000, or 200 with --quick)")
    parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of the function; the best counts")
    args = parser.parse_args()
    n = args.docs or (2000 if args.quick else 20000)
    n_base = args.baseline_docs or (200 if args.quick else 1000)

    records, group, copies = generate(n)
    truths = list(copies.values())
    bands, rows = choose_bands(args.threshold, 128)
    settings = Settings(threshold=args.threshold, bands=bands, rows=rows)
    seconds, cpu, groups = best_of(lambda: group_records(records, settings), args.repeat)
    quality = score(groups.leader, group)
    cli_seconds, cli_cpu, cli_stats = run_cli(records)
    base_seconds, base_cpu, base_leader = best_of(
        lambda: baseline_groups([r["text"] for r in records[:n_base]], args.threshold, 128, bands, rows), 1)
    base_quality = score(base_leader, group[:n_base])

    sizes = [len(r["text"].encode("utf-8")) for r in records]
    figures = {
        "documents": n, "mean_bytes": round(float(np.mean(sizes)), 1),
        "planted_copies": len(truths),
        "true_jaccard_of_copies": {q: round(float(np.quantile(truths, p)), 3) for q, p in
                                   (("min", 0), ("p05", .05), ("median", .5), ("p95", .95), ("max", 1))},
        "threshold": args.threshold, "bands": bands, "rows": rows, "num_perm": 128,
        "function_seconds": round(seconds, 3), "function_docs_per_s": round(n / seconds),
        "function_docs_per_cpu_s": round(n / cpu),
        "cli_seconds": round(cli_seconds, 3), "cli_docs_per_s": round(n / cli_seconds),
        "cli_docs_per_cpu_s": round(n / cli_cpu),
        "baseline_docs": n_base, "baseline_seconds": round(base_seconds, 3),
        "baseline_docs_per_s": round(n_base / base_seconds, 1),
        "baseline_docs_per_cpu_s": round(n_base / base_cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "speedup_function_vs_baseline": round((n / seconds) / (n_base / base_seconds), 1),
        "speedup_cli_vs_baseline": round((n / cli_seconds) / (n_base / base_seconds), 1),
        "speedup_function_vs_baseline_cpu": round((n / cpu) / (n_base / base_cpu), 1),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in quality.items()},
        "missed_copies_true_jaccard": [round(j, 3) for j in missed(groups.leader, group, copies)],
        "baseline_recall_on_subset": round(base_quality["recall"], 4),
        "baseline_precision_on_subset": round(base_quality["precision"], 4),
        "stage_stats": {k: cli_stats[k] for k in ("kept", "dropped", "groups", "candidate_pairs",
                                                  "checked_pairs", "verified_pairs")},
    }
    report = {"benchmark": "dedup", "command": command("dedup"), "device": device_info("numpy", "xxhash"),
              "figures": figures}
    write_results("dedup", report, markdown(report))
    print(f"dedup: {n} docs of ~{figures['mean_bytes']:.0f} B: {figures['function_docs_per_s']} docs/s "
          f"(function; {figures['function_docs_per_cpu_s']} per CPU-s), {figures['cli_docs_per_s']} docs/s "
          f"(CLI with I/O; {figures['cli_docs_per_cpu_s']} per CPU-s); pure-Python baseline "
          f"{figures['baseline_docs_per_s']} docs/s on {n_base} docs -> "
          f"x{figures['speedup_function_vs_baseline']} (function), x{figures['speedup_cli_vs_baseline']} (CLI)")
    print(f"dedup: recall {quality['recall']:.4f}, precision {quality['precision']:.4f} "
          f"({quality['true_positives']} of {quality['planted']} planted copies found, "
          f"{quality['dropped']} dropped)")
    return 0


def markdown(report: dict) -> str:
    f = report["figures"]
    jaccard, stats = f["true_jaccard_of_copies"], f["stage_stats"]
    rows = [("dedup function, docs/s (docs per CPU-second)",
             f"{f['function_docs_per_s']} ({f['function_docs_per_cpu_s']})"),
            ("whole CLI stage with I/O, docs/s (docs per CPU-second)",
             f"{f['cli_docs_per_s']} ({f['cli_docs_per_cpu_s']})"),
            (f"pure-Python MinHash baseline ({f['baseline_docs']} docs), docs/s (per CPU-second)",
             f"{f['baseline_docs_per_s']} ({f['baseline_docs_per_cpu_s']})"),
            ("speed-up, function / baseline (wall; CPU)",
             f"x{f['speedup_function_vs_baseline']}; x{f['speedup_function_vs_baseline_cpu']}"),
            ("speed-up, CLI / baseline", f"x{f['speedup_cli_vs_baseline']}"),
            ("recall on planted copies", f["recall"]), ("precision", f["precision"]),
            ("true Jaccard of the planted copies missed", f["missed_copies_true_jaccard"] or "none"),
            ("candidate / checked / joined pairs",
             f"{stats['candidate_pairs']} / {stats['checked_pairs']} / {stats['verified_pairs']}")]
    return "\n".join([
        "# dedup benchmark", "", describe(report["command"], report["device"]), "",
        f"{f['documents']} generated documents of ~{f['mean_bytes']:.0f} bytes, {f['planted_copies']} of them "
        f"edited copies (true 5-shingle Jaccard {jaccard['min']}-{jaccard['max']}, "
        f"median {jaccard['median']}); "
        f"threshold {f['threshold']}, {f['num_perm']} permutations, {f['bands']} bands x {f['rows']} rows. "
        f"1-minute load average at the end of the run: {f['load_average_1min']} (the machine is "
        "shared; docs per CPU-second is the figure other jobs disturb least).", "",
        *table(("measure", "value"), rows), ""])


if __name__ == "__main__":
    sys.exit(main())
