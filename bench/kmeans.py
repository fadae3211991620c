"""K-means: prep.cluster.kmeans (PyTorch) against scikit-learn's KMeans, same data, k and iterations.

Synthetic Gaussian blobs, float32. Two measurements per implementation:
- Lloyd iterations only: both start from the same initial centres (k-means++ from
  prep.cluster.kmeans), tol=0, the same max_iter; seconds per iteration = fit time / iterations.
- a full fit with each one's own k-means++ seeding (n_init=1): wall time and inertia.
The two run in turns, ``--repeat`` pairs after a warm-up; the Lloyd ratio is the median
over the pairs. The 1-minute load average before and after is recorded, since other work
on the machine skews both sides.

    .venv/bin/python bench/kmeans.py [--quick] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path

from _common import RESULTS, command, take_turns, write_results


def blobs(n: int, d: int, k: int, seed: int):
    """Overlapping blobs (centre spread 0.15, noise 1.0 per dimension), so Lloyd keeps
    moving for many iterations instead of converging in two."""
    import numpy as np
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.15, (k, d)).astype(np.float32)
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(0.0, 1.0, (n, d)).astype(np.float32)).astype(np.float32)


def paired(repeat: int, ours, theirs, warm_up: bool = True):
    """The two callables in turns (``take_turns``), after one untimed run each when ``warm_up``.
    Returns ({"wall", "cpu"} seconds lists for ours, the same for theirs, our last result,
    their last result)."""
    walls, cpus, results = take_turns({"ours": ours, "theirs": theirs}, repeat, warm_up)
    return ({"wall": walls["ours"], "cpu": cpus["ours"]}, {"wall": walls["theirs"], "cpu": cpus["theirs"]},
            results["ours"], results["theirs"])


def summary(times: dict, iterations: int, inertia: float) -> dict:
    wall, cpu = times["wall"], times["cpu"]
    return {"seconds_best": round(min(wall), 4), "seconds_median": round(statistics.median(wall), 4),
            "iterations": iterations, "seconds_per_iteration": round(min(wall) / iterations, 5),
            "cpu_seconds_per_iteration": round(min(cpu) / iterations, 5), "inertia": round(inertia, 1)}


def run(args) -> dict:
    import numpy as np
    import sklearn
    import torch
    from sklearn.cluster import KMeans

    from prep.cluster.kmeans import kmeans, kmeans_pp
    n = 10_000 if args.quick else args.n
    x = blobs(n, args.dims, args.k, args.seed)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    init = kmeans_pp(torch.from_numpy(x).to(device), args.k, torch.Generator().manual_seed(args.seed))
    init = init.cpu().numpy()
    load_before = os.getloadavg()[0]
    ours, theirs, r_ours, r_sk = paired(
        args.repeat, lambda: kmeans(x, args.k, init=init, max_iter=args.max_iter, tol=0.0, device=device),
        lambda: KMeans(args.k, init=init, n_init=1, max_iter=args.max_iter, tol=0.0, algorithm="lloyd").fit(x))
    # Per pair: (their s/iteration) / (our s/iteration); the median pair is the figure.
    ratios = [(t / r_sk.n_iter_) / (o / r_ours.iterations) for o, t in zip(ours["wall"], theirs["wall"])]
    best = (min(theirs["wall"]) / r_sk.n_iter_) / (min(ours["wall"]) / r_ours.iterations)
    cpu = (min(theirs["cpu"]) / r_sk.n_iter_) / (min(ours["cpu"]) / r_ours.iterations)
    f_ours, f_sk, full_ours, full_sk = paired(
        1, lambda: kmeans(x, args.k, seed=args.seed, max_iter=args.max_iter, device=device),
        lambda: KMeans(args.k, n_init=1, max_iter=args.max_iter, random_state=args.seed).fit(x),
        warm_up=False)
    return {
        "benchmark": "kmeans", "n": n, "dims": args.dims, "k": args.k, "max_iter": args.max_iter,
        "repeat": args.repeat, "device": device, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "sklearn": sklearn.__version__, "numpy": np.__version__},
        "lloyd_same_init": {
            "ours": summary(ours, r_ours.iterations, r_ours.inertia),
            "sklearn": summary(theirs, int(r_sk.n_iter_), float(r_sk.inertia_)),
            "speedup_median_pair": round(statistics.median(ratios), 3),
            "speedup_best_of": round(best, 3),
            "speedup_cpu_time": round(cpu, 3),
            "speedup_pairs": [round(r, 3) for r in ratios],
        },
        "full_fit_own_init": {
            "ours": summary(f_ours, full_ours.iterations, full_ours.inertia),
            "sklearn": summary(f_sk, int(full_sk.n_iter_), float(full_sk.inertia_)),
            "speedup": round(f_sk["wall"][0] / f_ours["wall"][0], 3),
        },
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "command": command("kmeans"),
    }


def markdown(r: dict) -> str:
    same, full = r["lloyd_same_init"], r["full_fit_own_init"]
    ours, theirs = same["ours"], same["sklearn"]
    lines = [
        "# k-means: prep.cluster.kmeans (PyTorch) vs scikit-learn KMeans", "",
        f"`{r['command']}` on {r['device']} ({r['threads']} threads, {r['machine']}); "
        f"{r['n']:,} x {r['dims']} float32 blobs, k={r['k']}, max_iter={r['max_iter']}, n_init=1.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        f"Load average (1 min) before / after: {r['load_average_1min']['before']} / "
        f"{r['load_average_1min']['after']}.", "",
        "| measurement | ours | scikit-learn | sklearn / ours |", "|---|---|---|---|",
        f"| Lloyd from the same centres: s/iteration (best of {r['repeat']}) | "
        f"{ours['seconds_per_iteration']} | {theirs['seconds_per_iteration']} | "
        f"{same['speedup_best_of']}x (best of each); {same['speedup_median_pair']}x (median pair) |",
        f"| Lloyd: CPU s/iteration, all threads (best) | {ours['cpu_seconds_per_iteration']} | "
        f"{theirs['cpu_seconds_per_iteration']} | {same['speedup_cpu_time']}x |",
        f"| Lloyd: seconds, best / median | {ours['seconds_best']} / {ours['seconds_median']} | "
        f"{theirs['seconds_best']} / {theirs['seconds_median']} | |",
        f"| Lloyd: iterations | {ours['iterations']} | {theirs['iterations']} | |",
        f"| Lloyd: inertia | {ours['inertia']:,} | {theirs['inertia']:,} | |",
        f"| full fit with own k-means++: seconds | {full['ours']['seconds_best']} | "
        f"{full['sklearn']['seconds_best']} | {full['speedup']}x |",
        f"| full fit: iterations | {full['ours']['iterations']} | {full['sklearn']['iterations']} | |",
        f"| full fit: inertia | {full['ours']['inertia']:,} | {full['sklearn']['inertia']:,} | |",
        "",
        "A ratio above 1 means prep.cluster.kmeans is faster. The two sides run in turns; the Lloyd ratio "
        "is the median over the pairs (per pair: " + ", ".join(f"{v}x" for v in same["speedup_pairs"]) + ").",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 points instead of --n")
    parser.add_argument("--n", type=int, default=100_000, help="number of points")
    parser.add_argument("--dims", type=int, default=384, help="dimensions (MiniLM's 384)")
    parser.add_argument("--k", type=int, default=50, help="clusters")
    parser.add_argument("--max-iter", type=int, default=20, help="Lloyd iterations (tol=0)")
    parser.add_argument("--repeat", type=int, default=5, help="timed Lloyd pairs (ours, sklearn)")
    parser.add_argument("--seed", type=int, default=0, help="data and seeding seed")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda if present")
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    args = parser.parse_args()
    result = run(args)
    write_results("kmeans", result, markdown(result), args.results)
    same = result["lloyd_same_init"]
    print(f"k-means {result['n']}x{result['dims']} k={result['k']} on {result['device']}: "
          f"ours {same['ours']['seconds_per_iteration']} s/it, sklearn {same['sklearn']['seconds_per_iteration']} "
          f"s/it, sklearn/ours {same['speedup_best_of']}x best-of, {same['speedup_median_pair']}x median pair, "
          f"{same['speedup_cpu_time']}x CPU time (inertia {same['ours']['inertia']:,} vs "
          f"{same['sklearn']['inertia']:,})")


if __name__ == "__main__":
    main()
