"""Lines that break JSON readers in the wild: every stage rejects them with file:line and a reason,
keeps the good records, writes only standard JSON, and never ends in a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from stage_outputs import outputs

# An eval set for decontaminate (its questions share nothing with GOOD).
EVAL = str(Path(__file__).parent / "data" / "filters" / "decontam" / "gsm8k_test.jsonl")
GOOD = {"id": "ok", "instruction": "Name a prime.", "input": "", "output": "Seven is prime."}
HOSTILE = {
    "deep": ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
    "huge int": ('{"id": 1, "text": "x", "n": ' + "9" * 5000 + "}", "4300 digits"),
    "surrogate": ('{"id": 2, "text": "a \\ud800 b"}', "surrogate"),
    "nan": ('{"id": 3, "text": NaN}', "NaN"),
    "infinity": ('{"id": 4, "input": "q", "output": "a", "score": Infinity}', "Infinity"),
}


def strict(line: str):
    def refuse(name):
        raise AssertionError(f"non-standard JSON written: {name}")
    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("stage", [["extract", "jsonl"], ["clean"], ["filter"], ["decontaminate", "--against", EVAL],
                                   ["dedup"], ["stats"]])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_line_is_rejected_with_its_place(cli, tmp_path, stage, kind):
    raw, reason = HOSTILE[kind]
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + raw + "\n", encoding="utf-8")
    if stage == ["stats"]:
        code, out, err = cli("prep", "stats", src, "--json")
        report = json.loads(out)
        assert code == 0 and report["errors"] == 1 and reason in report["error_lines"][0]
        assert report["error_lines"][0].startswith(f"{src}:2")
        return
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", *stage, "--input", src, "--output", out, "--quiet")
    assert code == 0, err
    assert "Traceback" not in err
    kept, rejects, stats = outputs(out)
    assert [r["id"] for r in kept] == ["ok"] and stats["errors"] == 1
    assert rejects[-1]["where"] == f"{src}:2" and reason in rejects[-1]["detail"]
    for line in out.read_text(encoding="utf-8").splitlines():
        strict(line)


def test_a_json_array_file_nested_too_deep_is_one_error(cli, tmp_path):
    src = tmp_path / "deep.json"
    src.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", tmp_path / "o.jsonl", "--quiet")
    assert code == 2 and "kept 0 of 1" in err and "Traceback" not in err
    _, rejects, stats = outputs(tmp_path / "o.jsonl")
    assert stats["errors"] == 1 and "nested too deeply" in rejects[0]["detail"]


def test_tokenize_rejects_them_too(cli, tmp_path, tokenizers_dir):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + "\n".join(raw for raw, _ in HOSTILE.values()) + "\n")
    out = tmp_path / "o.arrow"
    code, _, err = cli("prep", "tokenize", "--input", src, "--output", out, "--tokenizer-path",
                       tokenizers_dir["bos_eos"], "--quiet")
    assert code == 0, err
    stats = json.loads((tmp_path / "o.arrow.stats.json").read_text())
    assert stats["kept"] == 1 and stats["errors"] == len(HOSTILE)


PEAK = ("import resource, sys\n"
        "from train.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")  # ru_maxrss: KiB on Linux


def peak_kib(tmp_path, *args) -> tuple[int, int]:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", PEAK, *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=120)
    code, kib = proc.stdout.split()[-2:]
    return int(code), int(kib)


@pytest.mark.parametrize("stage", ["dedup", "clean"])
def test_a_giant_line_is_rejected_unread_and_memory_stays_flat(tmp_path, stage):
    """A 40 MB single line: rejected with its size; the stage's peak memory grows by far less than it."""
    small, giant = tmp_path / "small.jsonl", tmp_path / "giant.jsonl"
    small.write_text(json.dumps(GOOD) + "\n")
    giant.write_text(json.dumps(GOOD) + "\n" + json.dumps({"text": "word " * 8_000_000}) + "\n")
    code, base = peak_kib(tmp_path, "prep", stage, "--input", small, "--output", tmp_path / "a.jsonl", "--quiet")
    assert code == 0
    code, peak = peak_kib(tmp_path, "prep", stage, "--input", giant, "--output", tmp_path / "b.jsonl", "--quiet",
                          "--max-record-bytes", 4_000_000)
    assert code == 0
    kept, rejects, stats = outputs(tmp_path / "b.jsonl")
    assert len(kept) == 1 and stats["errors"] == 1 and "40,000,013 bytes" in rejects[0]["detail"]  # with its newline
    # The line is 40 MB; reading it whole (and decoding and parsing it) costs several times that.
    assert peak - base < 24 * 1024, (base, peak)


WRONG_TYPES = [{"id": "list", "text": [1, 2, 3]}, {"id": "nums", "input": 5, "output": 6},
               {"id": "turn", "messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]},
               {"id": "null", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]},
               {"id": "alpaca", "instruction": ["a"], "input": "", "output": "o"}]


@pytest.mark.parametrize("stage", [["clean"], ["filter"], ["decontaminate", "--against", EVAL], ["dedup"], ["split"],
                                   ["cluster", "--clusters", "1", "--encoder", "tfidf"]])
def test_text_fields_that_are_not_text_are_errors_at_read_time(cli, tmp_path, stage):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [GOOD, *WRONG_TYPES]))
    out = tmp_path / "out.jsonl"
    flags = ["--train-output", out] if stage == ["split"] else ["--output", out]
    code, _, err = cli("prep", *stage, "--input", src, *flags, "--quiet")
    assert code == 0, err
    kept, rejects, stats = outputs(out)
    assert [r["id"] for r in kept] == ["ok"] and stats["errors"] == len(WRONG_TYPES)
    assert all(r["detail"].startswith("not text") and r["where"].startswith(f"{src}:") for r in rejects)


def test_tokenize_rejects_a_giant_line_unread(tmp_path, tokenizers_dir):
    small, giant = tmp_path / "small.jsonl", tmp_path / "giant.jsonl"
    small.write_text(json.dumps(GOOD) + "\n")
    giant.write_text(json.dumps(GOOD) + "\n" + json.dumps({"text": "word " * 8_000_000}) + "\n")
    tok = tokenizers_dir["bos_eos"]
    code, base = peak_kib(tmp_path, "prep", "tokenize", "--input", small, "--output", tmp_path / "a.arrow",
                          "--tokenizer-path", tok, "--quiet")
    assert code == 0
    code, peak = peak_kib(tmp_path, "prep", "tokenize", "--input", giant, "--output", tmp_path / "b.arrow",
                          "--tokenizer-path", tok, "--quiet", "--max-record-bytes", 4_000_000)
    stats = json.loads((tmp_path / "b.arrow.stats.json").read_text())
    assert code == 0 and stats["kept"] == 1 and stats["errors"] == 1
    assert peak - base < 24 * 1024, (base, peak)
