"""Seeded fuzz: generated hostile inputs of every kind through every stage. Whatever arrives, a stage
ends with exit 0 or 2 (never a traceback), keeps its books (read == kept + dropped + errors), and
writes nothing but its own outputs and their sidecars."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

SEED = 20261201
GOOD = [{"id": f"g{i}", "instruction": f"Question {i}: name a number", "input": "", "output": f"{i * 7}"}
        for i in range(6)]


def hostile_lines(rng: random.Random) -> list[bytes]:
    """One of each kind, then random mutations of good lines."""
    lines = [
        b"[" * 5000 + b"]" * 5000,                                   # nesting past the stack
        b'{"text": "x", "n": ' + b"7" * 4500 + b"}",                  # past the int digit limit
        b'{"text": "a \\udc80 b"}',                                   # a lone surrogate
        b'{"text": NaN}', b'{"input": "q", "output": Infinity}',       # not JSON
        b'{"text": [1, 2, 3]}', b'{"input": 5, "output": 6}', b'{"text": null}',
        b'{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": null}]}',
        b'{"conversations": "not a list"}', b'{"messages": [{"role": "narrator", "content": "x"}]}',
        b"\xff\xfe\x00garbage", b"not json at all", b"[1, 2, 3]", b'"a string"', b"{}",
        b'{"text": "' + b"w " * 200_000 + b'"}',                     # over --max-record-bytes below
        b'{"input": "q", "output": "mid</s>dle<|im_end|>"}',          # special tokens inside an answer
        b'\xef\xbb\xbf{"text": "a byte-order mark on a later line"}',
        b'{"instruction": "", "input": "", "output": ""}', b'{"text": "\\u0000\\u0007 control"}',
    ]
    for _ in range(20):
        raw = bytearray(json.dumps(rng.choice(GOOD)).encode())
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(3), rng.randrange(len(raw))
            if op == 0:
                del raw[at]
            elif op == 1:
                raw.insert(at, rng.randrange(256))
            else:
                raw[at:at] = rng.choice([b"{", b"}", b'"', b"\\", b"\\u", b"\\ud800", b"\n", b"\r", b"NaN"])
        lines.append(bytes(raw))
    return lines


def build(tmp_path, seed_offset: int = 0):
    rng = random.Random(SEED + seed_offset)
    lines = hostile_lines(rng)
    mixed = [json.dumps(g).encode() for g in GOOD] + lines
    rng.shuffle(mixed)
    src = tmp_path / "in" / "data.jsonl"
    src.parent.mkdir()
    src.write_bytes(b"\n".join(mixed) + b"\n")
    return src


STAGES = {
    "extract-jsonl": ["prep", "extract", "jsonl"],
    "clean": ["prep", "clean"],
    "filter": ["prep", "filter", "--lang", "en"],
    "decontaminate": ["prep", "decontaminate", "--against",
                      str(Path(__file__).parent / "data" / "filters" / "decontam" / "gsm8k_test.jsonl")],
    "dedup": ["prep", "dedup"],
    "split": ["prep", "split"],
    "cluster": ["prep", "cluster", "--clusters", "2", "--encoder", "tfidf"],
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_jsonl_stage_survives_the_fuzz(cli, tmp_path, name):
    src = build(tmp_path)
    out_dir = tmp_path / "out"
    out = out_dir / "out.jsonl"
    target = ["--train-output", out] if name == "split" else ["--output", out]
    code, _, err = cli(*STAGES[name], "--input", src, *target, "--max-record-bytes", 100_000, "--quiet")
    assert code in (0, 2) and "Traceback" not in err, err
    stats = json.loads((out_dir / "out.jsonl.stats.json").read_text())
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    assert stats["errors"] >= 15
    expected = {"out.jsonl", "out.jsonl.stats.json", "out.jsonl.rejected.jsonl"} | (
        {"val.jsonl"} if name == "split" else set())
    assert {p.name for p in out_dir.iterdir()} == expected
    assert sorted(p.name for p in src.parent.iterdir()) == ["data.jsonl"]
    def refuse(constant):
        pytest.fail(f"an output holds {constant}")

    for path in out_dir.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line, parse_constant=refuse)


def test_tokenize_and_stats_survive_the_fuzz(cli, tmp_path, tokenizers_dir):
    src = build(tmp_path, 1)
    out = tmp_path / "out" / "t.arrow"
    code, _, err = cli("prep", "tokenize", "--input", src, "--output", out, "--tokenizer-path",
                       tokenizers_dir["bos_eos"], "--max-record-bytes", 100_000, "--quiet")
    assert code in (0, 2) and "Traceback" not in err, err
    stats = json.loads((tmp_path / "out" / "t.arrow.stats.json").read_text())
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    assert stats["dropped"].get("special-token-in-text", 0) >= 1
    code, report, err = cli("prep", "stats", src, "--json")
    assert code == 0 and json.loads(report)["errors"] >= 15


@pytest.mark.parametrize("kind, stage", [("html", ["prep", "extract", "html"]),
                                         ("csv", ["prep", "extract", "csv", "--text-column", "body"]),
                                         ("sql", ["prep", "extract", "sql", "--table", "t"])])
def test_raw_extractors_survive_random_bytes(cli, tmp_path, kind, stage):
    rng = random.Random(SEED)
    folder = tmp_path / "in"
    folder.mkdir()
    headers = {"html": b"<html><body><p>", "csv": b"title,body\n", "sql": b"CREATE TABLE t (body TEXT);\n"}
    for n in range(5):
        noise = bytes(rng.randrange(1, 256) for _ in range(rng.randint(10, 5000)))
        (folder / f"f{n}.{kind}").write_bytes(headers[kind] + noise)
    code, _, err = cli(*stage, "--input", folder if kind != "sql" else folder / "f0.sql",
                       "--output", tmp_path / "o.jsonl", "--quiet")
    assert code in (0, 1, 2) and "Traceback" not in err, err
