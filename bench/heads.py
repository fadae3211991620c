"""The closed-form head against scikit-learn's probes on real labelled text, same cached embeddings, same run.

    python bench/heads.py [--repeat 3] [--threads 1] [--scale-rows 2000,8000,16000,67349]

Sets (tests/data/labelled_text/, see SOURCES.md there): SST-2 (binary sentiment; a sample of the
GLUE train split, the whole GLUE dev split) and TREC (6 question types; a sample of the train
split, the test split). Each text is embedded once with all-MiniLM-L6-v2 (prep.embed, cached).
Methods on the same embeddings:
- LogisticRegression() and RidgeClassifier() from scikit-learn, default settings (max_iter 1000);
- the head with default flags (features and lambda by leave-one-out, class-balanced +-1 targets,
  unpenalised intercept), the head with linear features only, and the head with --solver dual
  (the same leave-one-out choice, but the rbf candidates use every training row as a landmark:
  the exact kernel, what the kernel can do at n x n cost).
Fit seconds: the fit alone (embedding excluded), the methods taking turns, best of --repeat after
an untimed warm-up; wall and CPU seconds. Probabilities (the head's closed-form temperature,
the logistic probe's predict_proba): log-loss and expected calibration error on the eval split.
The "floor" row is not a head: the class-weighted, centred Gram matrix of the embeddings and one
eigendecomposition of it, the least any ridge fit with a lambda search does; where the probe fits
faster than that, no choice of search makes the head faster.
Last, fit time against training size (--scale-rows; heads_scale.py says how the rows are made).
Writes bench/results/heads.{json,md}.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import heads_scale
import numpy as np
import torch
from _common import command, describe, device_info, table, take_turns, write_results
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from threadpoolctl import threadpool_limits

from prep.embed import embed_texts
from train.heads.cli import default_cache_dir
from train.heads.head import HeadOptions, fit_head, predict_proba
from train.heads.kernels import as_tensor, eigh
from train.heads.metrics import accuracy, macro_f1
from train.heads.solvers import centred_moments
from train.heads.targets import class_weights, encode_targets

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "labelled_text"
# Bins of the expected calibration error (by top probability): 10 equal-width bins.
ECE_BINS = 10


def read_sst2(path: Path, rejects: list) -> tuple[list, list]:
    """GLUE layout: a header line, then 'sentence<TAB>label' with label 0 or 1."""
    texts, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):
        text, _, label = line.rpartition("\t")
        if label not in ("0", "1") or not text.strip():
            rejects.append(f"{path}:{number}: not 'sentence<TAB>0|1'")
            continue
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def read_trec(path: Path, rejects: list) -> tuple[list, list]:
    """TREC layout: 'COARSE:fine question' per line; the coarse class is the label."""
    texts, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        tag, _, text = line.partition(" ")
        coarse = tag.partition(":")[0]
        if ":" not in tag or not coarse.isupper() or not text.strip():
            rejects.append(f"{path}:{number}: not 'CLASS:fine text'")
            continue
        texts.append(text)
        labels.append(coarse)
    return texts, labels


SETS = {"sst2": (read_sst2, "train.tsv", "dev.tsv"), "trec": (read_trec, "train.label", "test.label")}


def load(name: str, rejects: list) -> dict:
    reader, train_file, eval_file = SETS[name]
    train, held = reader(DATA / name / train_file, rejects), reader(DATA / name / eval_file, rejects)

    def embed(texts):
        return embed_texts(texts, cache_dir=default_cache_dir(), quiet=True)
    return {"x": embed(train[0]), "y": train[1], "x_eval": embed(held[0]), "y_eval": held[1]}


def methods(x, y) -> dict:
    return {
        "LogisticRegression": lambda: LogisticRegression(max_iter=1000).fit(x, y),
        "RidgeClassifier": lambda: RidgeClassifier().fit(x, y),
        "head (defaults)": lambda: fit_head(x, y, HeadOptions()),
        "head, linear only": lambda: fit_head(x, y, HeadOptions(kernel="linear")),
        "head, --solver dual": lambda: fit_head(x, y, HeadOptions(solver="dual")),
        "floor (Gram + eigh)": lambda: floor(x, y),
    }


def floor(x, y) -> None:
    """The class-weighted, centred Gram matrix of ``x`` and its eigendecomposition: no search, no solve."""
    targets, _, _ = encode_targets(y, "classification")
    weights = torch.from_numpy(class_weights(targets, "balanced"))
    moments = centred_moments(np.ascontiguousarray(x, dtype=np.float32), as_tensor, targets, weights)
    eigh(moments["gram"])


def calibration(probs, classes: list, gold: list) -> dict:
    """Log-loss and expected calibration error of probabilities (n, k) against gold labels."""
    index = np.array([classes.index(g) for g in gold])
    picked = np.clip(probs[np.arange(len(index)), index], 1e-12, 1.0)
    top, hit = probs.max(1), probs.argmax(1) == index
    bins = np.minimum((top * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = sum(abs(top[bins == b].mean() - hit[bins == b].mean()) * (bins == b).mean()
              for b in range(ECE_BINS) if (bins == b).any())
    return {"log_loss": round(float(-np.log(picked).mean()), 4), "ece": round(float(ece), 4)}


def scores(name: str, fitted, data: dict) -> dict:
    gold = data["y_eval"]
    if fitted is None:  # the floor
        return {}
    if name.startswith("head"):
        predicted, _, probs = predict_proba(fitted, data["x_eval"])
        extra = {**calibration(probs, fitted.config["classes"], gold), "features": fitted.config["features"]["kind"],
                 "lambda": round(fitted.config["lambda"], 6)}
    else:
        predicted = list(fitted.predict(data["x_eval"]))
        extra = calibration(fitted.predict_proba(data["x_eval"]), list(fitted.classes_), gold) \
            if hasattr(fitted, "predict_proba") else {}
    return {"accuracy": round(100 * accuracy(gold, predicted), 2), "macro_f1": round(100 * macro_f1(gold, predicted), 2),
            **extra}


def run_set(name: str, repeat: int, rejects: list) -> dict:
    data = load(name, rejects)
    sides = methods(data["x"], data["y"])
    walls, cpus, fitted = take_turns(sides, repeat, warm_up=True)
    rows = [{"method": m, "fit_s": round(min(walls[m]), 4), "fit_cpu_s": round(min(cpus[m]), 4),
             **scores(m, fitted[m], data)} for m in sides]
    searches = {m: fitted[m].config["lambda_search"] for m in ("head (defaults)", "head, --solver dual")}
    return {"set": name, "train": len(data["y"]), "eval": len(data["y_eval"]), "classes": len(set(data["y"])),
            "rows": rows, "searches": {m: {"candidates": v["candidates"], "chosen": v["chosen"], "rows": v["rows"],
                                           "landmarks": v["landmarks"], "gamma_probes": v.get("gamma_probes", [])}
                                       for m, v in searches.items()}}


def _speed(head: dict, lr: dict) -> str:
    return (f"fit CPU {head['fit_cpu_s']:.3f} s vs {lr['fit_cpu_s']:.3f} s: "
            + ("faster" if head["fit_cpu_s"] < lr["fit_cpu_s"] else "slower"))


def aims(result: dict) -> list:
    lines = []
    for s in result["sets"]:
        rows = {r["method"]: r for r in s["rows"]}
        lr, head, least = rows["LogisticRegression"], rows["head (defaults)"], rows["floor (Gram + eigh)"]
        below = least["fit_cpu_s"] >= lr["fit_cpu_s"]
        lines.append(f"- {s['set']} ({s['train']} rows): accuracy {head['accuracy'] - lr['accuracy']:+.2f} points vs "
                     f"the logistic probe (aim: +0.50 or more); {_speed(head, lr)} (aim: faster)"
                     + (f"; the floor alone takes {least['fit_cpu_s']:.3f} s." if below else "."))
    lines += heads_scale.scale_aims(result["scale"], _speed)
    return lines


def search_rows(searches: dict) -> list:
    def row(m, c, mark):
        return [m, c["kind"], "-" if c["gamma"] is None else f"{c['gamma']:.3f}", f"{c['lambda']:.4g}",
                f"{100 * c['loo_error']:.2f}", mark]
    out = []
    for m, v in searches.items():
        out += [row(m, {**c, "kind": "rbf (gamma probe)"}, "") for c in v.get("gamma_probes", [])]
        out += [row(m, c, "yes" if i == v["chosen"] else "") for i, c in enumerate(v["candidates"])]
    return out


def markdown(result: dict) -> str:
    lines = ["# heads: the closed-form head vs scikit-learn probes on real labelled text", "",
             describe(result["command"], result["device"]) + f" Threads: {result['threads']}.", ""]
    for s in result["sets"]:
        lines += [f"## {s['set']}: {s['train']} train / {s['eval']} eval, {s['classes']} classes", ""]
        lines += table(["method", "accuracy %", "macro-F1 %", "fit s", "fit CPU s", "log-loss", "ECE", "features"],
                       [[r["method"], r.get("accuracy", "-"), r.get("macro_f1", "-"), r["fit_s"], r["fit_cpu_s"], r.get("log_loss", "-"),
                         r.get("ece", "-"), r.get("features", "-")] for r in s["rows"]])
        lines += ["", "Leave-one-out searches (training rows only; gamma is picked on the rbf block alone, the "
                  "probes; linear+rbf is scored at the best probe's gamma only when that probe beats linear by "
                  "more than one standard error; the chosen candidate is the best unless the linear one is within "
                  "one standard error of it):", ""]
        lines += table(["head", "candidate", "gamma", "lambda", "LOO error %", "chosen"], search_rows(s["searches"]))
        lines.append("")
    lines += heads_scale.scale_table(result["scale"])
    lines += ["", "## aims", "", *aims(result), ""]
    if result["rejects"]:
        lines += ["Rejected input lines:", "", *[f"- {r}" for r in result["rejects"]], ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method (best counts)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and torch threads for every method (1: steady figures on a busy machine)")
    parser.add_argument("--scale-rows", dest="scale_rows", default="2000,8000,16000,67349",
                        help="comma-separated training sizes of the Gaussian timing rows (67,349: SST-2's train size)")
    parser.add_argument("--results", type=Path, default=None, help="folder for heads.{json,md} (default bench/results)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rejects: list = []
    with threadpool_limits(args.threads):
        sets = [run_set(name, args.repeat, rejects) for name in SETS]
        sizes = [int(v) for v in args.scale_rows.split(",") if v.strip()]
        scale = [row for name in SETS
                 for row in heads_scale.run_scale(name, load(name, rejects), methods, sizes, max(1, args.repeat - 1))]
    result = {"command": command("heads", argv), "threads": args.threads,
              "device": device_info("torch", "numpy", "scikit-learn"), "sets": sets, "scale": scale,
              "rejects": rejects}
    text = markdown(result)
    write_results("heads", result, text, args.results)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
