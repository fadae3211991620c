"""The two costly phases of `prep cluster`, embedding and k-means, timed and reported.

Without --quiet each phase prints one stderr line with its counts and seconds (and a tqdm bar
on a terminal while it runs), so that a log shows where the time went. K-means that stops at
--max-iter with its centres still moving prints a warning, --quiet or not. The same figures
go into the stats file (``embedding`` and ``kmeans``).
"""
from __future__ import annotations

import sys
import time


def say(args, message: str) -> None:
    if not args.quiet:
        print(f"cluster: {message}", file=sys.stderr)


def embed_tfidf(texts: list[str], args, info: dict):
    # torch, numpy: imported here to keep them off the CLI's start-up path
    from prep.cluster.tfidf import embed_tfidf as tfidf
    return tfidf(texts, seed=args.seed)


def embed_encoder(texts: list[str], args, info: dict):
    # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
    from prep.embed import embed_texts
    return embed_texts(texts, encoder=args.embedder, pooling="mean", normalize=True, batch_size=args.batch_size,
                       max_length=args.max_tokens, device=args.device, quiet=args.quiet, dtype=args.precision,
                       info=info)


# Any other --embedder value is an encoder folder or hub id, embedded like minilm.
EMBEDDERS = {"tfidf": embed_tfidf, "minilm": embed_encoder}


def default_embedder() -> str:
    try:
        # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
        from prep.embed import minilm_available
    except ImportError:
        return "tfidf"
    return "minilm" if minilm_available() else "tfidf"


def encoder_detail(info: dict) -> str:
    """How an encoder ran, for the log: precision, length limit, texts cut, batches."""
    if info.get("cached"):
        return f"{info['dtype']}, at most {info['max_tokens']} word pieces, read from the cache"
    return (f"{info['dtype']}, at most {info['max_tokens']} word pieces ({info['at_limit']} texts cut there, "
            f"--max-tokens), {info['tokens']} tokens in {info['batches']} batches")


def embed(texts: list[str], args):
    """(float32 vectors tensor, info dict for the stats file)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    say(args, f"embedding {len(texts)} texts with {args.embedder}")
    info: dict = {}
    start = time.perf_counter()
    vectors = torch.as_tensor(EMBEDDERS.get(args.embedder, embed_encoder)(texts, args, info), dtype=torch.float32)
    info["seconds"] = round(time.perf_counter() - start, 3)
    detail = encoder_detail(info) if "dtype" in info else f"{vectors.shape[1]} dims"
    say(args, f"embedded {len(texts)} texts in {info['seconds']:.1f} s ({detail})")
    return vectors, info


def convergence_warning(result, args) -> str:
    steps = "mini-batch steps" if result.minibatch else "iterations"
    runs = f"the best of {args.n_init} runs" if args.n_init > 1 else "it"
    return (f"cluster: warning: k-means did not converge: {runs} stopped after {result.iterations} {steps} "
            f"(--max-iter {args.max_iter}) with the centres still moving (last relative change "
            f"{result.last_change:.2e}, tolerance {result.tol:.0e}); the clusters may not be settled: "
            f"raise --max-iter")


def cluster(vectors, args):
    """KMeansResult of the vectors, labels renumbered largest-first; (result, stats dict)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    # torch (through kmeans and select): imported here to keep it off the CLI's start-up path
    from prep.cluster.kmeans import kmeans
    from prep.cluster.select import renumber_by_size
    start = time.perf_counter()
    result = kmeans(vectors, args.clusters, seed=args.seed, max_iter=args.max_iter, n_init=args.n_init,
                    use_minibatch=True if args.minibatch else None, device=args.device, quiet=args.quiet)
    mapping = renumber_by_size(result.labels.tolist(), args.clusters)
    result.labels = torch.as_tensor(mapping)[result.labels]
    result.centres = result.centres[torch.as_tensor(mapping).argsort()]
    seconds = round(time.perf_counter() - start, 3)
    steps = "mini-batch steps" if result.minibatch else "iterations"
    state = "converged" if result.converged else "stopped at --max-iter"
    say(args, f"k-means k={args.clusters} on {vectors.shape[0]} x {vectors.shape[1]} ({result.device}): "
              f"{state} after {result.iterations} {steps} (best of {args.n_init} runs), "
              f"inertia {result.inertia:.4f}, in {seconds:.1f} s")
    stats = {"iterations": result.iterations, "converged": result.converged, "max_iter": args.max_iter,
             "last_change": float(f"{result.last_change:.6g}"), "tolerance": result.tol, "seconds": seconds}
    if not result.converged:
        stats["warning"] = convergence_warning(result, args)
        print(stats["warning"], file=sys.stderr)
    return result, stats
