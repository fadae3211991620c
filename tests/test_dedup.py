"""prep dedup: exact and near duplicates, groups in meta, rejects, determinism, bad input."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
from stage_outputs import outputs

from prep.cli import STAGES, add_module_parser
from prep.core.errors import StageError
from prep.dedup.minhash import MinHasher, candidate_probability, choose_bands, normal_words, normalise
from prep.dedup.shingles import jaccard, shingle_batch, shingle_sets


@pytest.fixture
def dedup(capsys):
    """`tunesmith prep dedup ARGS...` through the registry's own parser code, without
    importing the other commands; returns (exit code, stdout, stderr) like ``cli``."""
    parser = argparse.ArgumentParser(prog="tunesmith prep")
    add_module_parser(parser.add_subparsers(dest="stage", required=True), "dedup", STAGES["dedup"])

    def run(*args):
        try:
            parsed = parser.parse_args(["dedup", *map(str, args)])
            code = parsed.func(parsed)
        except SystemExit as exc:
            code = exc.code
        except StageError as exc:  # what train.cli.main prints for a setup error
            print(f"tunesmith: error: {exc}", file=sys.stderr)
            code = 2
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def words(prefix, n):
    """n distinct words: every 5-word shingle of a text made of them is distinct."""
    return [f"{prefix}{i}" for i in range(n)]


def true_jaccard(a, b, k=5):
    ga = {tuple(a[i:i + k]) for i in range(len(a) - k + 1)}
    gb = {tuple(b[i:i + k]) for i in range(len(b) - k + 1)}
    return len(ga & gb) / len(ga | gb)


def run(dedup, tmp_path, rows, *flags, name="out.jsonl"):
    src = rows if not isinstance(rows, list) else write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / name
    code, _, err = dedup("--input", src, "--output", out, "--quiet", *flags)
    assert code == 0, err
    return outputs(out)


def test_exact_duplicates_ignore_case_whitespace_and_punctuation(dedup, tmp_path):
    rows = [
        {"id": "a", "text": "Hello World. This is the first text."},
        {"id": "b", "text": "  hello   WORLD this is the first text!!"},
        {"id": "c", "text": "Another text altogether."},
        {"id": "q1", "input": "What is two plus two?", "output": "Four."},
        {"id": "q2", "input": "what is two plus two", "output": "four"},
        {"id": "q3", "input": "What is two plus two?", "output": "Five."},
    ]
    kept, rejects, stats = run(dedup, tmp_path, rows)
    assert [r["id"] for r in kept] == ["a", "c", "q1", "q3"]
    assert {r["record"]["id"]: r["reason"] for r in rejects} == {"b": "exact-duplicate", "q2": "exact-duplicate"}
    detail = {r["record"]["id"]: r["detail"] for r in rejects}
    assert "a" in detail["b"] and "q1" in detail["q2"]
    assert rejects[0]["where"].endswith("in.jsonl:2")
    assert stats["exact_duplicates"] == 2 and stats["near_duplicates"] == 0
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"] == 6


def test_near_duplicates_above_threshold_dropped_below_kept(dedup, tmp_path):
    base = words("alpha", 100)
    close = base[:50] + ["changed"] + base[51:]     # one word edited: 5 of 96 shingles differ
    far = base[:40] + words("other", 12) + base[52:]  # twelve words edited: 16 differ
    j_close, j_far = true_jaccard(base, close), true_jaccard(base, far)
    assert j_close > 0.85 and j_far < 0.75
    rows = [{"id": "base", "text": " ".join(base)}, {"id": "close", "text": " ".join(close)},
            {"id": "far", "text": " ".join(far)}, {"id": "alone", "text": " ".join(words("zeta", 60))}]
    kept, rejects, stats = run(dedup, tmp_path, rows, "--threshold", "0.8")
    assert [r["id"] for r in kept] == ["base", "far", "alone"]
    assert len(rejects) == 1 and rejects[0]["reason"] == "near-duplicate"
    assert f"base (jaccard {j_close:.3f})" in rejects[0]["detail"]
    assert rejects[0]["record"]["meta"]["dup_similarity"] == pytest.approx(j_close, abs=1e-4)
    assert stats["near_duplicates"] == 1 and stats["verified_pairs"] == 1
    assert stats["minhash"]["bands"] * stats["minhash"]["rows"] <= 128
    # A lower threshold takes the far copy too, with the similarity it really has.
    kept, rejects, _ = run(dedup, tmp_path, rows, "--threshold", "0.6", name="low.jsonl")
    assert [r["id"] for r in kept] == ["base", "alone"]
    assert f"(jaccard {j_far:.3f})" in rejects[1]["detail"]


def test_exact_only_leaves_near_duplicates(dedup, tmp_path):
    base = words("beta", 80)
    rows = [{"id": "x", "text": " ".join(base)}, {"id": "y", "text": " ".join(base[:-1] + ["new"])},
            {"id": "z", "text": " ".join(base).upper()}]
    kept, rejects, stats = run(dedup, tmp_path, rows, "--exact-only")
    assert [r["id"] for r in kept] == ["x", "y"]
    assert [(r["record"]["id"], r["reason"]) for r in rejects] == [("z", "exact-duplicate")]
    assert "minhash" not in stats and stats["candidate_pairs"] == 0


def test_groups_in_meta_and_rejects_name_kept_record(dedup, tmp_path):
    base = words("gamma", 60)
    rows = [{"id": "solo", "text": "nothing like the others at all", "meta": {"source": "s1"}},
            {"id": "g1", "text": " ".join(base)},
            {"id": "g2", "text": " ".join(base[:30] + ["inserted"] + base[30:])},
            {"id": "g3", "text": " ".join(base)}]
    kept, rejects, stats = run(dedup, tmp_path, rows)
    assert all("dup_group" in r["meta"] and "dup_count" in r["meta"] for r in kept)
    meta = {r["id"]: r["meta"] for r in kept}
    assert meta["solo"] == {"source": "s1", "dup_group": "solo", "dup_count": 1}
    assert meta["g1"]["dup_group"] == "g1" and meta["g1"]["dup_count"] == 3
    for reject in rejects:
        assert reject["record"]["meta"]["dup_group"] == "g1"
        assert reject["record"]["meta"]["dup_of"] == "g1"
        assert "g1" in reject["detail"]
    assert {r["record"]["id"]: r["reason"] for r in rejects} == {"g2": "near-duplicate", "g3": "exact-duplicate"}
    assert stats["groups"] == 2 and stats["largest_group"] == 3


def test_records_without_id_are_named_by_position_and_keep_duplicates_marks_only(dedup, tmp_path):
    rows = [{"text": "first text here"}, {"text": "First text, here."}, {"text": "something else"}]
    kept, rejects, _ = run(dedup, tmp_path, rows)
    assert [r["meta"]["dup_group"] for r in kept] == ["#1", "#3"]
    assert "#1" in rejects[0]["detail"]
    kept, rejects, stats = run(dedup, tmp_path, rows, "--keep-duplicates", name="all.jsonl")
    assert len(kept) == 3 and rejects == [] and stats["kept"] == 3
    assert [r["meta"]["dup_group"] for r in kept] == ["#1", "#1", "#3"]
    assert kept[1]["meta"]["dup_of"] == "#1"


def test_transitive_group_names_the_link(dedup, tmp_path):
    a = words("delta", 100)
    b = a[:50] + ["x1"] + a[51:]
    c = b[:20] + words("new", 3) + b[23:]  # close to b, not to a
    assert true_jaccard(a, c) < 0.8 <= min(true_jaccard(a, b), true_jaccard(b, c))
    rows = [{"id": i, "text": " ".join(t)} for i, t in (("a", a), ("b", b), ("c", c))]
    kept, rejects, _ = run(dedup, tmp_path, rows, "--threshold", "0.8")
    assert [r["id"] for r in kept] == ["a"]
    detail = {r["record"]["id"]: r["detail"] for r in rejects}
    assert "near duplicate of a" in detail["c"] and "joined through b" in detail["c"]


def test_rerun_is_byte_identical(dedup, tmp_path):
    rng = np.random.default_rng(3)
    vocab = words("w", 300)
    texts = [list(rng.choice(vocab, 120)) for _ in range(40)]
    texts += [t[:50] + ["edit"] + t[51:] for t in texts[:8]]
    rows = [{"id": f"r{i}", "text": " ".join(t)} for i, t in enumerate(texts)]
    first = tmp_path / "one.jsonl"
    second = tmp_path / "two.jsonl"
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    for out in (first, second):
        assert dedup("--input", src, "--output", out, "--quiet")[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "one.jsonl.rejected.jsonl").read_bytes() == (tmp_path / "two.jsonl.rejected.jsonl").read_bytes()
    kept, rejects, stats = outputs(first)
    assert len(kept) == 40 and {r["reason"] for r in rejects} == {"near-duplicate"}


def test_broken_line_is_an_error_and_the_rest_is_processed(dedup, tmp_path):
    rows = [{"id": "a", "text": "one two three"}, '{"id": "b", "text": broken', {"id": "c", "text": "One two three"},
            {"id": "d", "text": "four five six"}]
    kept, rejects, stats = run(dedup, tmp_path, rows)
    assert [r["id"] for r in kept] == ["a", "d"]
    errors = [r for r in rejects if r["reason"] == "error"]
    assert len(errors) == 1 and errors[0]["where"].endswith("in.jsonl:2")
    assert stats["read"] == 4 and stats["errors"] == 1 and stats["kept"] == 2
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]


def test_empty_input_file_is_an_error_not_a_silent_success(dedup, tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    code, _, err = dedup("--input", src, "--output", out, "--quiet")
    assert code == 2 and "kept 0 of 0" in err
    kept, rejects, stats = outputs(out)  # the books are still written, to show why
    assert kept == [] and rejects == []
    assert stats["read"] == stats["kept"] == stats["errors"] == 0 and stats["groups"] == 0


@pytest.mark.parametrize("flags, message", [
    (("--threshold", "0"), "--threshold"),
    (("--bands", "20", "--rows", "10"), "--num-perm 128"),
])
def test_bad_settings_stop_with_a_message(dedup, tmp_path, flags, message):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}])
    code, _, err = dedup("--input", src, "--output", tmp_path / "o.jsonl", *flags)
    assert code == 2 and message in err
    assert not (tmp_path / "o.jsonl").exists()


def test_normalise_and_shingles():
    assert normalise("  Ｈｅｌｌｏ,\tWORLD—ok_then! ") == "hello world ok then"
    assert normal_words("Café au LAIT") == ["café".encode(), b"au", b"lait"]
    # Fewer than 2 * k words: character shingles, so a short text still has a set.
    _, _, offsets = shingle_batch(["a short one", " ".join(words("w", 12)), ""], 5)
    assert np.diff(offsets)[0] > 0 and np.diff(offsets)[1] == 8 and np.diff(offsets)[2] == 0
    a, b = words("s", 40), words("s", 30) + words("t", 10)
    assert jaccard(*shingle_sets([" ".join(a), " ".join(b)], 5)) == pytest.approx(true_jaccard(a, b))


def test_minhash_agreement_tracks_jaccard_and_seed():
    a = words("m", 400)
    b = a[:300] + words("n", 100)
    hasher = MinHasher(256, 5, seed=1)
    sig = hasher.signatures(*shingle_batch([" ".join(a), " ".join(b)], 5)[1:])
    assert sig.dtype == np.uint32 and sig.shape == (2, 256)
    estimate = float((sig[0] == sig[1]).mean())
    assert abs(estimate - true_jaccard(a, b)) < 0.1   # about 3 standard deviations at 256
    again = MinHasher(256, 5, seed=1).signatures(*shingle_batch([" ".join(a)], 5)[1:])
    other = MinHasher(256, 5, seed=2).signatures(*shingle_batch([" ".join(a)], 5)[1:])
    assert (again[0] == sig[0]).all() and not (other[0] == sig[0]).all()


def test_chosen_bands_catch_pairs_at_the_threshold():
    for threshold in (0.5, 0.8, 0.9):
        bands, rows = choose_bands(threshold, 128)
        assert bands * rows <= 128
        assert candidate_probability(threshold + 0.05, bands, rows) > 0.95
        assert candidate_probability(threshold - 0.4, bands, rows) < 0.1


def test_registered_with_every_flag_documented(cli):
    code, out, _ = cli("prep", "dedup", "--help")
    assert code == 0
    for flag in ("--threshold", "--exact-only", "--num-perm", "--shingle", "--bands", "--rows", "--seed",
                 "--keep-duplicates", "--input-file", "--quiet"):
        assert flag in out


def test_records_differing_only_in_their_instruction_are_all_kept(dedup, tmp_path):
    """Same input, same short output, different instructions: three different records (alpaca and
    extracted layouts alike), while a true copy is still caught."""
    rows = [{"id": "a", "instruction": "Is 7 a prime number?", "input": "", "output": "Yes."},
            {"id": "b", "instruction": "Is the sky blue on a clear day?", "input": "", "output": "Yes."},
            {"id": "c", "input": "Does water boil at 100 C at sea level?", "output": "Yes."},
            {"id": "d", "instruction": "Is 7 a prime number?", "input": "", "output": "Yes."}]
    kept, rejects, _ = run(dedup, tmp_path, rows)
    assert [r["id"] for r in kept] == ["a", "b", "c"]
    assert [r["record"]["id"] for r in rejects] == ["d"]
