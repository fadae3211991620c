"""The costly phases of `prep cluster`, embedding and k-means, timed and reported.

Embedding streams to disk (prep.cluster.embed_pass, prep.cluster.vectors): rows in a scratch
file, never a list of vectors; float16 once there are more rows than the k-means sample holds. K-means is fitted on a seeded sample of at most
max(SAMPLE_ROWS, SAMPLE_PER_CLUSTER x k) rows (every row when there are no more), then every
row is assigned to its nearest centre in blocks of ASSIGN_ROWS read from the file.

Without --quiet each phase prints one stderr line with its counts and seconds (and a tqdm bar
on a terminal while it runs), so that a log shows where the time went. K-means that stops at
--max-iter with its centres still moving prints a warning, --quiet or not. The same figures
go into the stats file (``embedding`` and ``kmeans``).
"""
from __future__ import annotations

import sys
import time

# Rows k-means is fitted on at most: 50,000 x 384 float32 = 73 MiB, seconds per Lloyd pass;
# more clusters need more rows each to place their centres (256 a cluster).
SAMPLE_ROWS = 50_000
SAMPLE_PER_CLUSTER = 256
# Rows assigned per block of the streaming pass: 65,536 x 384 float32 = 96 MiB.
ASSIGN_ROWS = 65_536


def say(args, message: str) -> None:
    if not args.quiet:
        print(f"cluster: {message}", file=sys.stderr)


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


def embed(stage, args, folder):
    """(VectorFile of the records with text, info for the stats file, first good record, one
    byte per good record: 1 if embedded), the records read on the engine ``args`` name."""
    # torch, numpy: imported here to keep them off the CLI's start-up path
    from prep.cluster.embed_pass import embed_records, tfidf_judge
    from prep.cluster.tfidf_stream import Postings, embed_postings
    from prep.cluster.vectors import VectorFile
    start = time.perf_counter()
    out = VectorFile(folder / "vectors.bin", max(SAMPLE_ROWS, SAMPLE_PER_CLUSTER * args.clusters))
    if args.embedder == "tfidf":
        sink, factory = Postings(folder), tfidf_judge
    else:
        # transformers: imported here, and only for an encoder (seconds to import)
        from prep.cluster.encode_pass import VectorSink, encoder_judge
        sink, factory = VectorSink(out), encoder_judge
    first, has_text = embed_records(stage, args, sink, factory)
    info = sink.info
    read_seconds = time.perf_counter() - start
    engine = getattr(args, "engine", "local")
    say(args, f"read {stage.read_count} records ({sum(has_text)} with text, {stage.dropped['empty-text']} "
              f"empty, {stage.errors} broken) in {read_seconds:.1f} s (embedded as read, --engine {engine})")
    if args.embedder == "tfidf":
        if any(has_text):
            info.update(embed_postings(sink, out, args.seed))
    else:
        sink.finish()
    out.close()
    info.pop("texts", None)
    info["seconds"] = round(time.perf_counter() - start, 3)
    detail = encoder_detail(info) if "dtype" in info else f"{out.dims} dims"
    say(args, f"embedded {out.rows} texts in {info['seconds']:.1f} s ({detail})")
    return out, info, first, has_text


def convergence_warning(result, args) -> str:
    steps = "mini-batch steps" if result.minibatch else "iterations"
    runs = f"the best of {args.n_init} runs" if args.n_init > 1 else "it"
    return (f"cluster: warning: k-means did not converge: {runs} stopped after {result.iterations} {steps} "
            f"(--max-iter {args.max_iter}) with the centres still moving (last relative change "
            f"{result.last_change:.2e}, tolerance {result.tol:.0e}); the clusters may not be settled: "
            f"raise --max-iter")


def sample_rows(vectors, args):
    """(float32 rows k-means is fitted on, their indices or None for every row)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    n = vectors.rows
    size = min(n, max(SAMPLE_ROWS, SAMPLE_PER_CLUSTER * args.clusters))
    if size == n:
        return vectors.block(0, n), None
    index = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))[:size].sort().values
    return vectors.take(index), index


def assign_all(vectors, centres, device):
    """(labels int64, distances float32, inertia) of every row of the file, block by block."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    # torch (through kmeans_blocks): imported here to keep it off the CLI's start-up path
    from prep.cluster.kmeans_blocks import assign, cpu_threads
    labels = torch.empty(vectors.rows, dtype=torch.int64)
    distances = torch.empty(vectors.rows, dtype=torch.float32)
    inertia = 0.0
    centres = centres.to(device)
    with cpu_threads(device):
        for lo, block in vectors.blocks(ASSIGN_ROWS):
            d2, nearest = assign(block.to(device).contiguous(), centres)
            labels[lo:lo + len(block)] = nearest.cpu()
            distances[lo:lo + len(block)] = d2.sqrt().cpu()
            inertia += float(d2.double().sum())
    return labels, distances, inertia


def cluster(vectors, args):
    """KMeansResult of every row of ``vectors`` (a VectorFile), labels renumbered largest-first;
    (result, stats dict)."""
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    # torch (through kmeans and select): imported here to keep it off the CLI's start-up path
    from prep.cluster.kmeans import kmeans
    from prep.cluster.select import renumber_by_size
    start = time.perf_counter()
    x, index = sample_rows(vectors, args)
    result = kmeans(x, args.clusters, seed=args.seed, max_iter=args.max_iter, n_init=args.n_init,
                    use_minibatch=True if args.minibatch else None, device=args.device, quiet=args.quiet)
    del x
    if index is not None:
        result.labels, result.distances, result.inertia = assign_all(vectors, result.centres, result.device)
    mapping = renumber_by_size(result.labels.tolist(), args.clusters)
    result.labels = torch.as_tensor(mapping)[result.labels]
    result.centres = result.centres[torch.as_tensor(mapping).argsort()]
    seconds = round(time.perf_counter() - start, 3)
    steps = "mini-batch steps" if result.minibatch else "iterations"
    state = "converged" if result.converged else "stopped at --max-iter"
    rows = f"{vectors.rows}" if index is None else f"a sample of {len(index)} of {vectors.rows}"
    say(args, f"k-means k={args.clusters} on {rows} x {vectors.dims} ({result.device}): "
              f"{state} after {result.iterations} {steps} (best of {args.n_init} runs), "
              f"inertia {result.inertia:.4f}, in {seconds:.1f} s")
    stats = {"iterations": result.iterations, "converged": result.converged, "max_iter": args.max_iter,
             "last_change": float(f"{result.last_change:.6g}"), "tolerance": result.tol, "seconds": seconds,
             "sample": vectors.rows if index is None else len(index)}
    if not result.converged:
        stats["warning"] = convergence_warning(result, args)
        print(stats["warning"], file=sys.stderr)
    return result, stats
