"""The cluster stage's report: clusters.md (sizes, top terms, samples) and clusters.png (PCA).

Both are deterministic for the same clustering: samples are the records nearest each
centre, terms sort by score then alphabetically, and the projection is an exact
eigen-decomposition with a fixed sign convention.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from matplotlib.figure import Figure

from prep.cluster.tfidf import top_terms
from prep.core.atomic import AtomicFile

# Characters of a sample text shown in the report.
SAMPLE_CHARS = 200
SAMPLES = 3
TERMS = 8
# Points drawn at most in the picture; beyond that an evenly spaced subset (the picture is a
# sketch, and scatter plots of millions of points take minutes).
MAX_POINTS = 20_000


def shorten(text: str, limit: int = SAMPLE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def markdown(texts, result, reasons, terms: dict[int, list[str]]) -> str:
    labels, distances = result.labels.tolist(), result.distances.tolist()
    k = result.centres.shape[0]
    sizes = Counter(labels)
    kept = Counter(label for label, reason in zip(labels, reasons) if reason is None)
    lines = [
        "# Clusters", "",
        f"{len(labels)} records in {k} clusters; inertia {result.inertia:.4f} after "
        f"{result.iterations} {'mini-batch steps' if result.minibatch else 'iterations'}. "
        "Cluster 0 is the largest; samples are the records nearest each centre.", "",
        "| cluster | size | kept | top terms |", "|---:|---:|---:|---|",
    ]
    lines += [f"| {c} | {sizes[c]} | {kept[c]} | {', '.join(terms.get(c, []))} |" for c in range(k)]
    members: dict[int, list[int]] = {c: [] for c in range(k)}
    for i, label in enumerate(labels):
        members[label].append(i)
    for c in range(k):
        rows = sorted(members[c], key=lambda i: (distances[i], i))
        dropped = Counter(reasons[i] for i in rows if reasons[i] is not None)
        lines += ["", f"## Cluster {c}", "",
                  f"Size {sizes[c]}, kept {kept[c]}"
                  + "".join(f", {reason} {n}" for reason, n in sorted(dropped.items())) + ".",
                  f"Top terms: {', '.join(terms.get(c, [])) or '(none)'}.", ""]
        lines += [f"- ({distances[i]:.4f}) {shorten(texts[i])}" for i in rows[:SAMPLES]]
    return "\n".join(lines) + "\n"


def principal_plane(vectors, centres):
    """Points and centres projected on the two leading principal axes (float64 covariance,
    exact eigh; each axis signed so that its largest entry is positive)."""
    x = vectors.double()
    mean = x.mean(0)
    centred = x - mean
    _, axes = torch.linalg.eigh(centred.t() @ centred)
    axes = axes[:, -2:].flip(1) if axes.shape[1] >= 2 else torch.cat([axes, torch.zeros_like(axes)], 1)
    signs = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)
    return (centred @ axes).numpy(), ((centres.double() - mean) @ axes).numpy()


def picture(path: Path, vectors, result) -> None:
    """``vectors``: the vector file (prep.cluster.vectors); the projection is fitted on the
    evenly spaced rows that are drawn (every row up to MAX_POINTS), so that memory stays
    bounded on any input."""
    every = max(1, vectors.rows // MAX_POINTS)
    drawn = torch.arange(0, vectors.rows, every)
    points, centres = principal_plane(vectors.take(drawn) if every > 1 else vectors.block(0, vectors.rows),
                                      result.centres)
    labels = result.labels[drawn].numpy()
    fig = Figure(figsize=(7, 6), dpi=120)
    ax = fig.subplots()
    colours = 10 if len(centres) <= 10 else 20  # tab20 pairs similar shades: only when needed
    size = 24 if len(points) <= 1000 else 6
    ax.scatter(points[:, 0], points[:, 1], c=labels % colours, cmap=f"tab{colours}",
               vmin=0, vmax=colours - 1, s=size, alpha=0.75, linewidths=0)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="black", s=60, linewidths=2)
    for c, (px, py) in enumerate(centres):
        ax.annotate(str(c), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(f"{vectors.rows} records, {len(centres)} clusters (PCA of the embeddings)")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    fig.tight_layout()
    with AtomicFile(path, "wb") as out:
        fig.savefig(out.handle, format="png", metadata={"Software": None})


def write_report(directory, texts, vectors, result, reasons) -> None:
    """clusters.md and clusters.png in ``directory`` (created if missing)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    terms = top_terms(texts, result.labels.tolist(), TERMS)
    with AtomicFile(folder / "clusters.md") as md:
        md.handle.write(markdown(texts, result, reasons, terms))
    picture(folder / "clusters.png", vectors, result)
