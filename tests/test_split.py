import json
import random

from prep.split import assign, parse_ratio


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_ratio_parsing(cli, tmp_path):
    assert parse_ratio("0.99,0.01") == [0.99, 0.01]
    assert parse_ratio("90,10") == [0.9, 0.1]
    assert len(parse_ratio("0.8,0.1,0.1")) == 3
    src = write(tmp_path / "in.jsonl", [{"id": 1, "text": "a"}])
    code, _, err = cli("prep", "split", "--input", src, "--split_ratio", "0.9;0.1")
    assert code == 2 and "--split_ratio" in err


def test_split_exact_counts_stable_under_reordering(tmp_path, cli):
    records = [{"id": i, "text": f"example number {i}"} for i in range(200)]
    (tmp_path / "a").mkdir()
    src = write(tmp_path / "a" / "in.jsonl", records)
    code, out, _ = cli("prep", "split", "--input", src, "--split_ratio", "0.9,0.1")
    assert code == 0 and "val 20" in out
    train, val = ids(tmp_path / "a" / "train.jsonl"), ids(tmp_path / "a" / "val.jsonl")
    assert len(val) == 20 and len(train) == 180 and not set(train) & set(val)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    (tmp_path / "b").mkdir()
    src2 = write(tmp_path / "b" / "in.jsonl", shuffled)
    cli("prep", "split", "--input", src2, "--split_ratio", "0.9,0.1", "--quiet")
    assert sorted(ids(tmp_path / "b" / "val.jsonl")) == sorted(val)
    cli("prep", "split", "--input", src2, "--split_ratio", "0.9,0.1", "--seed", "7", "--quiet")
    assert sorted(ids(tmp_path / "b" / "val.jsonl")) != sorted(val)   # the seed matters
    stats = json.loads((tmp_path / "a" / "train.jsonl.stats.json").read_text())
    assert stats["read"] == 200 == stats["kept"] and stats["counts"] == {"train": 180, "val": 20}


def test_groups_never_straddle(tmp_path, cli):
    records = [{"id": f"{g}-{j}", "text": f"variant {j} of {g}", "meta": {"dup_group": g}}
               for g in range(30) for j in range(4)]
    src = write(tmp_path / "in.jsonl", records)
    tr, va = tmp_path / "tr.jsonl", tmp_path / "va.jsonl"
    assert cli("prep", "split", "--input", src, "--split_ratio", "0.8,0.2", "--group-key", "meta.dup_group",
               "--train-output", tr, "--val-output", va, "--quiet")[0] == 0
    groups = lambda p: {i.split("-")[0] for i in ids(p)}  # noqa: E731
    assert groups(tr).isdisjoint(groups(va))
    assert len(ids(va)) % 4 == 0 and len(ids(va)) == 24


def test_three_way_split_and_tiny_val(tmp_path, cli):
    records = [{"id": i, "text": f"row {i}"} for i in range(50)]
    src = write(tmp_path / "in.jsonl", records)
    assert cli("prep", "split", "--input", src, "--split_ratio", "0.8,0.1,0.1", "--quiet")[0] == 0
    sizes = [len(ids(tmp_path / f"{n}.jsonl")) for n in ("train", "val", "test")]
    assert sizes == [40, 5, 5]
    assert assign(["a", "b", "c"], [0.99, 0.01], 42).count("val") == 1   # never an empty val set


def test_three_way_split_lands_beside_the_train_output(tmp_path, cli):
    (tmp_path / "in").mkdir()
    src = write(tmp_path / "in" / "data.jsonl", [{"id": i, "text": f"record {i}"} for i in range(100)])
    out = tmp_path / "work"
    code, _, err = cli("prep", "split", "--input", src, "--split_ratio", "0.8,0.1,0.1",
                       "--train-output", out / "train.jsonl", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["data.jsonl"]  # nothing in the input's folder
    got = {name: ids(out / f"{name}.jsonl") for name in ("train", "val", "test")}
    assert sorted(i for part in got.values() for i in part) == list(range(100))
    code, _, err = cli("prep", "split", "--input", src, "--split_ratio", "0.9,0.1",
                       "--test-output", out / "t.jsonl", "--quiet")
    assert code == 2 and "third share" in err
