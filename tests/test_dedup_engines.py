"""prep dedup on every engine: the same kept records, rejects and stats, byte for byte.

The input resamples the real records of tests/data (instruction sets in every layout, code
answers, labelled web text, refusal-study answers, short UI strings in seven languages) under
fresh ids, each once in a shuffled pass and then again, so that exact duplicates occur as they do
in real merged sets; edited copies (a word changed or dropped in a long field) are planted as
near duplicates, and broken lines sit among them.
"""
import json
import random
from pathlib import Path

import numpy as np
import pytest
import xxhash
from ray_cluster import run_in_windows
from test_engines import DATA, SOURCES, UNSHARED, ray_skip_reason

from prep.core.records import read_records
from prep.core.shapes import main_text
from prep.dedup.bands import candidate_pairs
from prep.dedup.minhash import MinHasher, normal_words, rensa_version
from prep.dedup.shingles import buffer_of, shingle_batch, word_hashes
from train.cli import main

DEDUP_SOURCES = [*SOURCES, *sorted((DATA / "refusals").glob("*.jsonl")), DATA / "filters" / "language" / "records.jsonl"]
# Fields edited to plant a near duplicate, and the fewest words such a field must have so that
# one edit keeps the 5-word-shingle Jaccard near 0.9 (one edit changes up to 5 of W - 4 shingles).
EDITABLE = ("text", "output", "response", "completion", "answer")
MIN_WORDS = 60


def plant(rng: random.Random, record: dict) -> dict | None:
    """A copy of ``record`` with one word of its longest editable field changed or dropped."""
    fields = [k for k in EDITABLE if isinstance(record.get(k), str) and len(record[k].split()) >= MIN_WORDS]
    if not fields:
        return None
    key = max(fields, key=lambda k: len(record[k]))
    words = record[key].split(" ")
    at = rng.randrange(len(words) // 4, 3 * len(words) // 4)
    words[at:at + 1] = [] if rng.random() < 0.5 else ["quixotically"]
    return {**record, key: " ".join(words)}


def sample(path: Path, records: int, seed: int) -> tuple[Path, dict]:
    """Real records under fresh ids (the shuffled pool, then again), ~6% planted near copies of
    a record drawn before, a broken line every ~300; (path, {"broken": n, "planted": {id: source id}})."""
    pool = [item.record for source in DEDUP_SOURCES for item in read_records(source) if item.error is None]
    rng = random.Random(seed)
    rng.shuffle(pool)
    lines, drawn, planted, broken = [], [], {}, 0
    for n in range(records):
        record = {"id": f"d{seed}-{n}", **{k: v for k, v in pool[n % len(pool)].items() if k != "id"}}
        copy = plant(rng, rng.choice(drawn)) if drawn and rng.random() < 0.06 else None
        if copy is not None:
            planted[record["id"]] = copy["id"]
            record = {**copy, "id": record["id"]}
        drawn.append(record)
        line = json.dumps(record, ensure_ascii=False)
        if rng.random() < 1 / 300:
            line = rng.choice([line[: len(line) // 2], json.dumps([record]), json.dumps({"id": n, "text": 7})])
            broken += 1
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, {"broken": broken, "planted": planted}


def ran(out: Path) -> dict:
    stats = json.loads(out.with_name(out.name + ".stats.json").read_text(encoding="utf-8"))
    return {"output": out.read_bytes(), "rejects": out.with_name(out.name + ".rejected.jsonl").read_bytes(),
            "stats": {k: v for k, v in stats.items() if k not in UNSHARED}}


def dedup(src: Path, out: Path, *flags) -> dict:
    assert main(["prep", "dedup", "--input", str(src), "--output", str(out), "--quiet",
                 "--signatures", "numpy", *flags]) == 0
    return ran(out)


def shingles(record: dict) -> set:
    """Word 5-grams with plain Python sets: the check does not reuse the stage's hashing."""
    words = normal_words(main_text(record))
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """3,000 records and the single-process result on them."""
    folder = tmp_path_factory.mktemp("dedup-engines")
    src, facts = sample(folder / "in.jsonl", 3000, seed=1)
    return src, facts, dedup(src, folder / "one.jsonl")


def test_one_process_finds_the_planted_and_the_repeated_records(real):
    src, facts, single = real
    stats = single["stats"]
    assert stats["read"] == 3000 and stats["errors"] == facts["broken"] > 0
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    assert stats["exact_duplicates"] > 800 and stats["near_duplicates"] > 0.9 * len(facts["planted"]) > 40
    line_of = {}
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        try:
            line_of[json.loads(line)["id"]] = n
        except (ValueError, TypeError):   # the broken lines planted
            continue
    rejects = [json.loads(line) for line in single["rejects"].decode().splitlines()]
    # "empty": records with no words (a layout no stage reads), never grouped as duplicates
    dropped = {r["record"]["id"]: r for r in rejects if r["reason"] not in ("error", "empty")}
    found = [i for i in facts["planted"] if i in dropped]
    assert len(found) >= 0.95 * len(facts["planted"])
    kept = {r["id"]: r for r in map(json.loads, single["output"].decode().splitlines())}
    by_id = {**kept, **{i: r["record"] for i, r in dropped.items()}}
    for item in dropped.values():
        leader = item["record"]["meta"]["dup_of"]
        assert leader in kept and line_of[leader] < line_of[item["record"]["id"]]   # the first is kept
        if item["reason"] == "near-duplicate":
            a, b = shingles(item["record"]), shingles(by_id[item["record"]["meta"]["dup_group"]])
            if a and b and "joined through" not in item["detail"]:
                assert len(a & b) / len(a | b) >= 0.8 - 1e-9, item["detail"]
    texts = [" ".join(map(bytes.decode, normal_words(main_text(r)))) for r in kept.values()]
    assert len(set(texts)) == len(texts)   # no two kept records share a normalised text


def test_two_local_workers_write_the_same_files(real, tmp_path):
    src, _, single = real
    assert dedup(src, tmp_path / "two.jsonl", "--workers", "2") == single


def test_small_batches_on_three_workers_and_keep_duplicates(real, tmp_path, monkeypatch):
    import prep.dedup.stage as stage

    src, _, _ = real
    one = dedup(src, tmp_path / "one.jsonl", "--keep-duplicates")
    monkeypatch.setattr(stage, "BATCH_TEXTS", 37)   # batches that do not divide the input
    assert dedup(src, tmp_path / "three.jsonl", "--keep-duplicates", "--workers", "3") == one
    assert one["stats"]["kept"] == one["stats"]["read"] - one["stats"]["errors"]


def test_partitions_do_not_change_the_pairs():
    records = [item.record for source in DEDUP_SOURCES for item in read_records(source) if item.error is None]
    texts = [normal_words(main_text(r)) for r in records[:1500]]
    texts += [t[:-1] for t in texts[:200] if len(t) > 40]   # near copies: the last word dropped
    signatures = MinHasher(128, 5, 1).signatures(*shingle_batch([b" ".join(t).decode() for t in texts], 5)[1:])
    one = candidate_pairs(signatures, 16, 8, partitions=1)
    assert len(one) > 100
    for parts in (2, 7, 64):
        assert np.array_equal(candidate_pairs(signatures, 16, 8, partitions=parts), one)


@pytest.mark.skipif(rensa_version() is None, reason="rensa is not installed (the bench extra)")
def test_rensa_signatures_find_what_numpy_finds(real, tmp_path):
    src, facts, single = real
    fast = dedup(src, tmp_path / "rensa.jsonl", "--signatures", "rensa")
    assert fast["stats"]["minhash"]["signatures"] == "rensa"
    ids = {item["record"]["id"] for item in map(json.loads, fast["rejects"].decode().splitlines())
           if item["reason"] != "error"}
    assert sum(i in ids for i in facts["planted"]) >= 0.95 * len(facts["planted"])
    # Every pair is checked by its exact Jaccard: the engines differ at most by a missed candidate.
    near = [fast["stats"]["near_duplicates"], single["stats"]["near_duplicates"]]
    assert abs(near[0] - near[1]) <= 0.02 * max(near)
    assert fast["stats"]["exact_duplicates"] == single["stats"]["exact_duplicates"]


@pytest.mark.slow
@pytest.mark.skipif(ray_skip_reason() is not None, reason=str(ray_skip_reason()))
def test_ray_writes_the_same_files(real, tmp_path, ray_head):
    # A process of its own (Ray leaves threads behind); windows of 1,000 records, so that the
    # signatures come back from several Ray datasets and batches end between windows.
    src, _, single = real
    out = tmp_path / "ray.jsonl"
    argv = ["prep", "dedup", "--input", str(src), "--output", str(out), "--quiet", "--signatures", "numpy",
            "--engine", "ray", "--workers", "2", "--ray-address", ray_head.address]   # the session's cluster
    done = run_in_windows(argv, 1000, ray_head.driver_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert ran(out) == single


def test_batched_shingles_read_each_text_as_its_own_words():
    """The whole-batch byte buffer (prep.dedup.shingles) on real records in seven languages and
    every layout: each text's exact key is xxh3-128 of its own normalised words, it has one word
    window per word past the first k - 1 (or character windows when short), a word hashes the
    same in every text, and a text's hashes do not depend on the batch it came in."""
    records = [item.record for source in DEDUP_SOURCES for item in read_records(source) if item.error is None]
    texts = [main_text(r) for r in records[:800]] + ["", "  \t ", "Ｈｅｌｌｏ,\tWORLD—ok_then!"]
    keys, flat, offsets = shingle_batch(texts, 5)
    for i, text in enumerate(texts):
        words = normal_words(text)
        assert keys[i].tobytes() == xxhash.xxh3_128_digest(b" ".join(words))
        count = int(offsets[i + 1] - offsets[i])
        assert count == len(words) - 4 if len(words) >= 10 else (count > 0) == bool(words)
    assert any(not t.isascii() for t in texts) and any(len(normal_words(t)) < 10 for t in texts[:800])
    by_word: dict[bytes, int] = {}
    all_words = [w for t in texts for w in normal_words(t)]
    hashes = word_hashes(buffer_of(texts)[0])[0].tolist()
    assert len(hashes) == len(all_words)
    for word, h in zip(all_words, hashes):
        assert by_word.setdefault(word, h) == h
    assert len(set(by_word.values())) == len(by_word)   # no two distinct words collide
    _, part, part_offsets = shingle_batch(texts[100:300], 5)
    assert np.array_equal(part, flat[offsets[100]:offsets[300]])
    assert np.array_equal(part_offsets, offsets[100:301] - offsets[100])
