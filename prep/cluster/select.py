"""Which clustered records to keep: noise (tiny clusters, far outliers) and per-cluster caps.

Every function returns a drop reason per record (None = keep), so the stage only counts and
writes. Ties always go to the record that came first in the input.
"""
from __future__ import annotations

import math
from collections import Counter

import torch


def renumber_by_size(labels: list[int], k: int) -> list[int]:
    """Old cluster id -> new id: largest cluster 0, ties by first appearance in the input;
    clusters left empty come last, in their old order."""
    sizes = Counter(labels)
    first: dict[int, int] = {}
    for index, label in enumerate(labels):
        first.setdefault(label, index)
    order = sorted(range(k), key=lambda c: (-sizes[c], first.get(c, len(labels) + c)))
    mapping = [0] * k
    for new, old in enumerate(order):
        mapping[old] = new
    return mapping


def noise_reasons(labels: list[int], distances: list[float], min_size: int | None,
                  sigma: float | None) -> list[str | None]:
    """'small-cluster' for every record of a cluster with fewer than ``min_size`` records;
    'outlier' for a record of a remaining cluster whose distance to the centre exceeds
    mean + sigma * std of that cluster's distances (population std, all members counted).

    A record can only exceed sigma standard deviations in a cluster of more than sigma^2 + 1
    records (the largest possible z-score among n values is sqrt(n - 1)), so small clusters
    never lose members to this rule.
    """
    sizes = Counter(labels)
    reasons: list[str | None] = [None] * len(labels)
    if min_size is not None:
        for i, label in enumerate(labels):
            if sizes[label] < min_size:
                reasons[i] = "small-cluster"
    if sigma is None:
        return reasons
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        if reasons[i] is None:
            members.setdefault(label, []).append(i)
    for rows in members.values():
        values = [distances[i] for i in rows]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        for i in rows:
            if distances[i] > mean + sigma * std:
                reasons[i] = "outlier"
    return reasons


def nearest_first(rows: list[int], distances, vectors, limit: int) -> list[int]:
    """The ``limit`` members closest to the centre (ties: input order)."""
    return sorted(rows, key=lambda i: (distances[i], i))[:limit]


def spread(rows: list[int], distances, vectors, limit: int) -> list[int]:
    """Farthest-point traversal: start at the member nearest the centre, then repeatedly take
    the member farthest from everything taken so far, so the picks cover the cluster."""
    if limit >= len(rows):
        return list(rows)
    points = vectors[torch.as_tensor(rows)]
    start = min(range(len(rows)), key=lambda j: (distances[rows[j]], j))
    gap = ((points - points[start]) ** 2).sum(1)
    gap[start] = -1.0
    chosen = [start]
    for _ in range(limit - 1):
        pick = int(torch.argmax(gap))  # first maximum: ties go to the earlier record
        chosen.append(pick)
        gap = torch.minimum(gap, ((points - points[pick]) ** 2).sum(1))
        gap[chosen] = -1.0
    return [rows[j] for j in chosen]


SELECTORS = {"nearest": nearest_first, "spread": spread}


def cap_reasons(labels: list[int], reasons: list[str | None], distances, vectors, per_cluster: int,
                how: str) -> list[str | None]:
    """'cluster-full' for members beyond the first ``per_cluster`` that ``how`` picks among
    the records still kept."""
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        if reasons[i] is None:
            members.setdefault(label, []).append(i)
    out = list(reasons)
    for rows in members.values():
        keep = set(SELECTORS[how](rows, distances, vectors, per_cluster))
        for i in rows:
            if i not in keep:
                out[i] = "cluster-full"
    return out
