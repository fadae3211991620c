"""`prep cluster` past one machine's memory: vectors on disk, TF-IDF and k-means fitted on
samples, the streaming assignment, and the embedding pass on every engine.

Inputs resample the real records of tests/data (instruction sets in every layout, code
answers, labelled web text) under fresh ids, with broken lines and empty texts among them.
``small_limits`` shrinks the sample sizes so that a few thousand records take the path that
a few million take with the real ones.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_embed import tiny_bert_dir  # noqa: F401  (a fixture: a 2-layer BERT built from a config)
from test_engines import ray_skip_reason

from prep.cluster import phases, tfidf_stream, vectors
from prep.cluster.tfidf import embed_tfidf, lsa, lsa_projection, sparse_tfidf, text_features, to_csr
from prep.core.records import read_records
from prep.core.shapes import main_text
from train.cli import main

DATA = Path(__file__).parent / "data"
SOURCES = [*sorted((DATA / "layouts").glob("*.json*")), *sorted((DATA / "code").glob("*.jsonl")),
           DATA / "filters" / "quality" / "records.jsonl"]


def real_records() -> list[dict]:
    return [item.record for source in SOURCES for item in read_records(source) if item.error is None]


def real_texts(count: int) -> list[str]:
    texts = [main_text(record) for record in real_records()]
    return [text for text in texts if text.strip()][:count]


def sample(path: Path, records: int, seed: int = 0) -> Path:
    """``records`` real records under fresh ids; a cut line every 101st, an empty text every 89th."""
    pool, rng, lines = real_records(), random.Random(seed), []
    for n in range(records):
        record = {"id": f"c{seed}-{n}", **{k: v for k, v in rng.choice(pool).items() if k != "id"}}
        line = json.dumps({"id": record["id"], "text": " "} if n % 89 == 7 else record, ensure_ascii=False)
        lines.append(line[: len(line) // 2] if n % 101 == 50 else line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_limits(monkeypatch):
    """The sampled path at test size: k-means on 400 rows, the LSA on 200, float16 past 400."""
    monkeypatch.setattr(phases, "SAMPLE_ROWS", 400)
    monkeypatch.setattr(phases, "SAMPLE_PER_CLUSTER", 8)
    monkeypatch.setattr(phases, "ASSIGN_ROWS", 256)
    monkeypatch.setattr(tfidf_stream, "LSA_SAMPLE", 200)
    monkeypatch.setattr(tfidf_stream, "BLOCK_ROWS", 200)
    monkeypatch.setattr(tfidf_stream, "DF_FLUSH", 5000)
    monkeypatch.setattr(vectors, "COPY_ROWS", 100)


def without_seconds(value):
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if k not in ("seconds", "options", "outputs")}
    return value


def cluster(src: Path, out: Path, *flags) -> dict:
    """What a run wrote: output and rejects as bytes, the stats without times and flags."""
    assert main(["prep", "cluster", "--input", str(src), "--output", str(out), "--quiet", "--clusters", "6",
                 "--per-cluster", "150", *flags]) == 0
    stats = json.loads(out.with_name(out.name + ".stats.json").read_text(encoding="utf-8"))
    return {"output": out.read_bytes(), "rejects": out.with_name(out.name + ".rejected.jsonl").read_bytes(),
            "stats": without_seconds(stats)}


def test_vector_file_is_exact_up_to_the_sample_then_float16(tmp_path):
    rows = torch.randn(7, 5, generator=torch.Generator().manual_seed(0)).numpy()
    file = vectors.VectorFile(tmp_path / "v.bin", exact_rows=4)
    file.append(rows[:3])
    assert file.dtype == np.float32 and torch.equal(file.block(0, 3), torch.from_numpy(rows[:3]))
    file.append(rows[3:])  # past 4 rows: the whole file turns float16
    assert file.dtype == np.float16 and file.shape == (7, 5)
    file.close()
    assert (tmp_path / "v.bin").stat().st_size == 7 * 5 * 2
    half = torch.from_numpy(rows.astype(np.float16).astype(np.float32))
    assert torch.equal(file.block(0, 7), half) and torch.equal(file[torch.tensor([6, 1])], half[[6, 1]])
    with pytest.raises(ValueError, match="5 dims"):
        file.append(rows[:, :3])


def test_streamed_tfidf_is_embed_tfidf_when_the_sample_is_everything(tmp_path):
    texts = real_texts(60)
    postings, cache = tfidf_stream.Postings(tmp_path), {}
    for text in texts:
        postings.add_features(*text_features(text, cache))
    out = vectors.VectorFile(tmp_path / "v.bin", exact_rows=len(texts))
    assert tfidf_stream.embed_postings(postings, out, seed=3) == {"lsa_sample": 60}
    assert torch.equal(out.block(0, len(texts)), torch.from_numpy(embed_tfidf(texts, seed=3)))


def test_the_fitted_projection_gives_every_text_its_lsa_coordinates():
    # 100 texts: the range finder covers the whole rank, so X V = U S holds to rounding.
    rows, cols, weights, n = sparse_tfidf(real_texts(100))
    used, projection = lsa_projection(rows, cols, weights, n, 256, 5)
    lookup = np.full(int(cols.max()) + 1, -1)
    lookup[used] = np.arange(len(used))
    inside = lookup[cols] >= 0
    matrix = to_csr(rows[inside], lookup[cols][inside], weights[inside], (n, len(used)))
    exact = lsa(rows, cols, weights, n, 256, 5)
    assert projection.shape[1] == exact.shape[1] > 90
    assert torch.allclose(matrix @ projection, exact, atol=2e-4)


def test_streaming_assignment_is_the_nearest_centre(tmp_path, small_limits):
    points = torch.randn(1000, 16, generator=torch.Generator().manual_seed(1))
    file = vectors.VectorFile(tmp_path / "v.bin", exact_rows=0)  # float16 from the start
    file.append(points.numpy())
    centres = points[:9] * 0.5
    labels, distances, inertia = phases.assign_all(file, centres, "cpu")
    stored = file.block(0, 1000)
    brute = torch.cdist(stored.double(), centres.double())
    assert torch.equal(labels, brute.argmin(1))
    assert torch.allclose(distances.double(), brute.min(1).values, atol=1e-4)
    assert inertia == pytest.approx(float((brute.min(1).values ** 2).sum()), rel=1e-5)


def test_sampled_path_end_to_end(tmp_path, small_limits):
    src = sample(tmp_path / "in.jsonl", 700)
    first = cluster(src, tmp_path / "out" / "a.jsonl", "--embedder", "tfidf")
    stats = first["stats"]
    assert stats["kmeans"]["sample"] == 400 and stats["embedding"]["lsa_sample"] == 200
    assert stats["read"] == 700 == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    assert stats["errors"] >= 7 and stats["dropped"]["empty-text"] >= 8  # cut lines, blanks, and the real ones
    assert sum(stats["cluster_sizes"]["before"]) == 700 - stats["errors"] - stats["dropped"]["empty-text"]
    assert sorted(stats["cluster_sizes"]["before"], reverse=True) == stats["cluster_sizes"]["before"]
    kept = [json.loads(line) for line in first["output"].decode().splitlines()]
    order = [int(r["id"].rsplit("-", 1)[1]) for r in kept]
    assert order == sorted(order) and all(0 <= r["meta"]["cluster"] < 6 for r in kept)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [  # the scratch folder is gone
        "a.jsonl", "a.jsonl.rejected.jsonl", "a.jsonl.stats.json"]
    # (the same files again from another run: test_two_local_workers_write_the_same_files)


@pytest.mark.slow
def test_two_local_workers_write_the_same_files(tmp_path, small_limits):
    src = sample(tmp_path / "in.jsonl", 2500, seed=2)
    one = cluster(src, tmp_path / "one.jsonl", "--embedder", "tfidf")
    assert cluster(src, tmp_path / "two.jsonl", "--embedder", "tfidf", "--workers", "2") == one


@pytest.mark.slow
def test_encoder_on_two_local_workers_writes_the_same_files(tmp_path, small_limits, tiny_bert_dir):  # noqa: F811
    src = sample(tmp_path / "in.jsonl", 2500, seed=3)
    flags = ("--embedder", str(tiny_bert_dir), "--device", "cpu", "--precision", "float32")
    one = cluster(src, tmp_path / "one.jsonl", *flags)
    assert one["stats"]["dims"] == 32 and one["stats"]["embedding"]["batches"] > 2
    assert cluster(src, tmp_path / "two.jsonl", *flags, "--workers", "2") == one


RAY_SCRIPT = """import sys
import prep.cluster.phases as ph, prep.cluster.tfidf_stream as ts, prep.cluster.embed_pass as ep
ph.SAMPLE_ROWS, ph.SAMPLE_PER_CLUSTER, ph.ASSIGN_ROWS = 400, 8, 256
ts.LSA_SAMPLE, ts.BLOCK_ROWS = 200, 200
ep.TFIDF_BATCH, ep.ENCODER_BATCH = 128, 256
import prep.core.engine_ray as r; r.WINDOW_RECORDS = 600
from train.cli import main; sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_ray_writes_the_same_files(tmp_path, monkeypatch, small_limits, tiny_bert_dir, ray_head):  # noqa: F811
    # Several batches and Ray windows per run, in a process of its own (Ray leaves threads behind).
    src = sample(tmp_path / "in.jsonl", 2500, seed=4)
    monkeypatch.setattr("prep.cluster.embed_pass.TFIDF_BATCH", 128)
    monkeypatch.setattr("prep.cluster.embed_pass.ENCODER_BATCH", 256)
    for name, flags in (("tfidf", ["--embedder", "tfidf"]),
                        ("bert", ["--embedder", str(tiny_bert_dir), "--device", "cpu", "--precision", "float32"])):
        local = cluster(src, tmp_path / f"{name}-local.jsonl", *flags)
        out = tmp_path / f"{name}-ray.jsonl"
        argv = ["prep", "cluster", "--input", str(src), "--output", str(out), "--quiet", "--clusters", "6",
                "--per-cluster", "150", *flags, "--engine", "ray", "--workers", "2", "--ray-address", ray_head.address]
        done = subprocess.run([sys.executable, "-c", RAY_SCRIPT, *argv], capture_output=True, text=True, timeout=300,
                              env=ray_head.driver_env())
        assert done.returncode == 0, done.stderr[-3000:]
        assert out.read_bytes() == local["output"], name
        assert out.with_name(out.name + ".rejected.jsonl").read_bytes() == local["rejects"], name
        stats = json.loads(out.with_name(out.name + ".stats.json").read_text(encoding="utf-8"))
        assert without_seconds(stats) == local["stats"], name


def test_an_input_that_changed_between_the_passes_is_a_stage_error(tmp_path):
    import argparse

    from prep.cluster.stage import embedded_records
    from prep.core.errors import StageError
    src = sample(tmp_path / "in.jsonl", 30)
    args = argparse.Namespace(input=str(src), max_record_bytes=1 << 20)
    good = sum(1 for item in read_records(src) if item.error is None)
    assert [i for i, _, _ in embedded_records(args, bytearray([1]) * good)] == list(range(good))
    with pytest.raises(StageError, match="changed while it was clustered"):
        list(embedded_records(args, bytearray([1]) * (good + 3)))
