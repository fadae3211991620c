"""Dedup speed, recall and precision on generated ~1 KB documents with planted near duplicates.

    /work/shared/netns/isolated .venv/bin/python bench/dedup.py [--quick] [--docs N] [--no-ray]

Documents are sentences of random words drawn with Zipf-like frequencies from a generated
vocabulary. 10% of the documents are copies of others with 0.5-2% of their words substituted,
inserted or deleted (true 5-word-shingle Jaccard roughly 0.8-0.95), shuffled among the rest.
A dropped document is a true positive when it was planted in the same group as the record
kept in its place. The baseline is a plain Python MinHash (sha1 per shingle, then a loop over
the permutations per shingle, dict buckets, Python-set Jaccard) run on a subset; its docs/s
is compared with the numpy stage's. rensa (a Rust MinHash) runs its own way side by side: 5-word
shingle strings, RMinHash signatures, RMinHashLSH candidates joined by their estimated Jaccard;
the stage runs with numpy and with rensa signatures. The whole CLI stage runs in a process of
its own on local 1 worker, local 2 workers and Ray (Ray only inside a loopback-only network
namespace), each one's outputs checked equal, with the peak PSS of its whole process tree (sampled
from /proc) and the main process's VmHWM;
the dedup state's peak (exact keys, signatures, band keys: no text) is measured with tracemalloc.
Writes bench/results/dedup.{json,md}.
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
from scale import watched

from prep.core.records import dumps
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


def rensa_groups(texts: list[str], threshold: float, num_perm: int, bands: int) -> list[int]:
    """rensa's own way: 5-word shingle strings, RMinHash, RMinHashLSH, estimated Jaccard."""
    from rensa import RMinHash, RMinHashLSH
    lsh = RMinHashLSH(threshold, num_perm, bands)
    hashes = []
    for i, text in enumerate(texts):
        words = text.lower().replace(".", " ").replace(",", " ").split()
        minhash = RMinHash(num_perm, 1)
        minhash.update([" ".join(words[k:k + SHINGLE]) for k in range(len(words) - SHINGLE + 1)])
        lsh.insert(i, minhash)
        hashes.append(minhash)
    leader = list(range(len(texts)))
    for i, minhash in enumerate(hashes):   # leader: the smallest index joined, as the stage keeps
        for j in sorted(lsh.query(minhash)):
            if j < i and minhash.jaccard(hashes[j]) >= threshold:
                leader[i] = min(leader[i], leader[j])
                break
    return leader


ENGINES = {"local, 1 worker": ["--workers", "1"], "local, 2 workers": ["--workers", "2"],
           "ray, 2 CPUs": ["--engine", "ray", "--workers", "2"]}


def run_cli(src: Path, out: Path, flags: list[str]) -> dict:
    """The whole stage in a process of its own: wall seconds, peak PSS of the process and all its
    workers together (sampled from /proc every SAMPLE_SECONDS), the main process's VmHWM, the
    outputs' bytes. (ru_maxrss from wait4 was the largest of the bench and its children: it
    showed the bench's own memory.)"""
    argv = [sys.executable, "-m", "train.cli", "prep", "dedup", "--input", str(src), "--output", str(out),
            "--quiet", *flags]
    seconds, code, err, peaks = watched(argv)
    assert code == 0, err[-2000:]
    stats = json.loads(sidecar(out, ".stats.json").read_text())
    return {"seconds": round(seconds, 2), "tree_pss_mib": round(peaks.peak / 2**20, 1),
            "main_hwm_mib": round(peaks.hwm / 2**20, 1), "stats": stats,
            "files": (out.read_bytes(), sidecar(out, ".rejected.jsonl").read_bytes())}


def state_bytes(records: list[dict], settings: Settings) -> float:
    """Peak bytes per record that the main process's dedup state takes (tracemalloc: numpy's
    arrays are traced): the signed payloads decoded, exact keys, signatures, band keys, pairs."""
    import tracemalloc

    from prep.dedup.groups import Deduper
    from prep.dedup.work import decode, signer
    judge = signer(settings)
    payloads = [[dumps(p) for p, _, _ in judge(records[i:i + 1024])[0]] for i in range(0, len(records), 1024)]
    tracemalloc.start()
    deduper = Deduper(settings)
    for lines in payloads:
        deduper.add_signed(*decode(lines, settings))
    deduper.candidates()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / len(records)


def engines(records: list[dict], use_ray: bool) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        for name, flags in ENGINES.items():
            if name.startswith("ray") and not use_ray:
                continue
            rows[name] = run_cli(src, Path(tmp) / f"out{len(rows)}.jsonl", flags)
    reference = next(iter(rows.values()))["files"]
    for row in rows.values():
        row["same_files_as_1_worker"] = row.pop("files") == reference
    return rows


def timed(name: str, fn, n: int, group: list[int], repeat: int) -> dict:
    seconds, cpu, leader = best_of(fn, repeat)
    quality = score(list(leader), group)
    return {"name": name, "seconds": round(seconds, 3), "docs_per_s": round(n / seconds),
            "docs_per_cpu_s": round(n / cpu), "recall": round(quality["recall"], 4),
            "precision": round(quality["precision"], 4), "dropped": quality["dropped"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 documents instead of 50,000")
    parser.add_argument("--docs", type=int, default=None, help="number of documents (overrides --quick)")
    parser.add_argument("--baseline-docs", type=int, default=None,
                        help="documents the pure-Python baseline runs on (default: 1,000, or 200 with --quick)")
    parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each function; the best counts")
    parser.add_argument("--no-ray", dest="ray", action="store_false", help="leave out the Ray engine's run")
    args = parser.parse_args()
    n = args.docs or (5000 if args.quick else 50000)
    n_base = args.baseline_docs or (200 if args.quick else 1000)

    records, group, copies = generate(n)
    texts = [r["text"] for r in records]
    bands, rows = choose_bands(args.threshold, 128)
    settings = {engine: Settings(threshold=args.threshold, bands=bands, rows=rows, signatures=engine)
                for engine in ("numpy", "rensa")}
    sides = [timed(f"stage function, {engine} signatures", lambda s=s: group_records(records, s).leader, n,
                   group, args.repeat) for engine, s in settings.items()]
    sides.append(timed("rensa: RMinHash + RMinHashLSH, estimated Jaccard",
                       lambda: rensa_groups(texts, args.threshold, 128, bands), n, group, args.repeat))
    base = timed("pure-Python MinHash (subset)", lambda: baseline_groups(texts[:n_base], args.threshold, 128,
                                                                       bands, rows), n_base, group[:n_base], 1)
    groups = group_records(records, settings["rensa"])
    truths = list(copies.values())
    figures = {
        "documents": n, "mean_bytes": round(float(np.mean([len(t.encode("utf-8")) for t in texts])), 1),
        "planted_copies": len(truths),
        "true_jaccard_of_copies": {q: round(float(np.quantile(truths, p)), 3) for q, p in
                                   (("min", 0), ("p05", .05), ("median", .5), ("p95", .95), ("max", 1))},
        "threshold": args.threshold, "bands": bands, "rows": rows, "num_perm": 128,
        "functions": sides, "baseline": base,
        "speedup_vs_rensa": {s["name"]: round(s["docs_per_cpu_s"] / sides[2]["docs_per_cpu_s"], 2) for s in sides[:2]},
        "speedup_vs_baseline": round(sides[1]["docs_per_cpu_s"] / base["docs_per_cpu_s"], 1),
        "missed_copies_true_jaccard": [round(j, 3) for j in missed(list(groups.leader), group, copies)],
        "state_bytes_per_record": round(state_bytes(records, settings["rensa"])),
        "engines": engines(records, args.ray),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    one = figures["engines"]["local, 1 worker"]["seconds"]
    for row in figures["engines"].values():
        row["speedup_vs_1_worker"] = round(one / row["seconds"], 2)
        stats = row.pop("stats")
        row["kept"], row["pairs"] = stats["kept"], [stats[k] for k in ("candidate_pairs", "checked_pairs",
                                                                          "verified_pairs")]
    report = {"benchmark": "dedup", "command": command("dedup"),
              "device": device_info("numpy", "xxhash", "rensa", "ray"), "figures": figures}
    write_results("dedup", report, markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    f = report["figures"]
    jaccard = f["true_jaccard_of_copies"]
    speed = [(s["name"], f"{s['docs_per_s']} ({s['docs_per_cpu_s']})", s["recall"], s["precision"])
             for s in [*f["functions"], f["baseline"]]]
    runs = [(name, r["seconds"], f"x{r['speedup_vs_1_worker']}", r["tree_pss_mib"], r["main_hwm_mib"], r["kept"],
             " / ".join(map(str, r["pairs"])), "yes" if r["same_files_as_1_worker"] else "NO")
            for name, r in f["engines"].items()]
    ratio = "; ".join(f"{name}: x{value}" for name, value in f["speedup_vs_rensa"].items())
    return "\n".join([
        "# dedup benchmark", "", describe(report["command"], report["device"]), "",
        f"{f['documents']} generated documents of ~{f['mean_bytes']:.0f} bytes, {f['planted_copies']} of them "
        f"edited copies (true 5-shingle Jaccard {jaccard['min']}-{jaccard['max']}, median {jaccard['median']}); "
        f"threshold {f['threshold']}, {f['num_perm']} permutations, {f['bands']} bands x {f['rows']} rows. "
        f"1-minute load average at the end: {f['load_average_1min']} (a shared machine: docs per CPU-second "
        "is the figure other jobs disturb least).", "",
        "## Speed per core, same run", "",
        *table(("pipeline", "docs/s (per CPU-second)", "recall", "precision"), speed), "",
        f"Per CPU-second against rensa's own pipeline: {ratio}. Against the pure-Python baseline: "
        f"x{f['speedup_vs_baseline']}. Planted copies the stage missed (true Jaccard): "
        f"{f['missed_copies_true_jaccard'] or 'none'}.", "",
        "## The whole CLI stage on each engine (I/O included, a process of its own)", "",
        *table(("engine", "seconds", "vs 1 worker", "peak PSS of the process tree MiB", "main process VmHWM MiB",
                "kept", "candidate / checked / joined pairs",
                "same files"), runs), "",
        f"Dedup state held by the main process at its peak (exact keys, signatures, band keys, pairs; "
        f"no text): {f['state_bytes_per_record']} bytes per record.", ""])


if __name__ == "__main__":
    sys.exit(main())
