import json

from stage_outputs import read_jsonl

from prep.clean import load_phrases, normalise


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_normalise_unicode_and_whitespace():
    raw = "Cafe\u0301\u00a0 au   lait\r\n\r\n\r\n\r\nline\u200b two\t\tend \x07"
    assert normalise(raw) == "Café au lait\n\nline two end"


def test_builtin_list_is_large_and_extensible(tmp_path):
    builtin = load_phrases()
    assert len(builtin) >= 50
    assert "as an ai language model" in builtin and "openai" in builtin
    extra = tmp_path / "extra.txt"
    extra.write_text("# mine\nBanana Protocol\n", encoding="utf-8")
    assert load_phrases(extra)[-1] == "banana protocol"


def test_clean_drops_refusals_on_output_side_with_reasons(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "input": "Tell me a joke", "output": "Why did the chicken cross the road?"},
        {"id": 2, "input": "Do it", "output": "As an AI Language Model, I cannot do that."},
        {"id": 3, "input": "Is OpenAI a company?", "output": "Yes, it is a company in San Francisco."},
        {"id": 4, "input": "x", "output": "I\u2019m sorry, but I can\u2019t help with that."},
        {"id": 5, "text": "A plain text record mentioning ethical guidelines for surgeons."},
        {"id": 6, "messages": [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "I cannot fulfill this request."}]},
        {"id": 7, "input": "empty answer", "output": "   "},
    ])
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli("prep", "clean", "--input", src, "--output", out, "--quiet")
    assert code == 0
    assert [r["id"] for r in read_jsonl(out)] == [1, 3]   # input-side "OpenAI" is allowed
    rejects = {r["record"]["id"]: r for r in read_jsonl(tmp_path / "out.rejected.jsonl")}
    assert rejects[2]["reason"] == "refusal" and "as an ai language model" in rejects[2]["detail"]
    assert rejects[4]["reason"] == "refusal"   # curly apostrophes matched as straight ones
    assert rejects[5]["reason"] == "refusal"   # a text record is checked as a whole
    assert rejects[6]["reason"] == "refusal"
    assert rejects[7]["reason"] == "empty"
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert stats["read"] == 7 == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    assert stats["dropped"] == {"empty": 1, "refusal": 4}


def test_keep_refusals_length_filters_and_extra_phrases(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": "a", "text": "one two three four five"},
        {"id": "b", "text": "too short"},
        {"id": "c", "text": " ".join(["word"] * 50)},
        {"id": "d", "text": "As an AI language model this is kept when asked to keep"},
        {"id": "e", "text": "the banana protocol is a custom phrase to drop"},
    ])
    extra = tmp_path / "phrases.txt"
    extra.write_text("banana protocol\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert cli("prep", "clean", "--input", src, "--output", out, "--min-words", "3", "--max-words", "20",
               "--phrases", extra, "--quiet")[0] == 0
    assert [r["id"] for r in read_jsonl(out)] == ["a"]
    reasons = {r["record"]["id"]: r["reason"] for r in read_jsonl(tmp_path / "out.rejected.jsonl")}
    assert reasons == {"b": "too-short", "c": "too-long", "d": "refusal", "e": "refusal"}
    assert cli("prep", "clean", "--input", src, "--output", out, "--keep-refusals", "--quiet")[0] == 0
    assert [r["id"] for r in read_jsonl(out)] == ["a", "b", "c", "d", "e"]


def test_broken_lines_and_bad_bytes_are_counted_not_fatal(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "text": "good record here"}\n{"id": 2, "text": \n'
                    b'\xff\xfe not utf8\n[1, 2]\n{"id": 3, "text": "another good one"}\n')
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "clean", "--input", src, "--output", out)
    assert code == 0
    assert [r["id"] for r in read_jsonl(out)] == [1, 3]
    assert f"{src}:2" in err and f"{src}:3" in err
    rejects = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert [r["where"] for r in rejects] == [f"{src}:2", f"{src}:3", f"{src}:4"]
    assert "not UTF-8" in rejects[1]["detail"] and "expected a JSON object" in rejects[2]["detail"]
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert (stats["read"], stats["kept"], stats["errors"]) == (5, 2, 3)


def test_empty_file_and_missing_input(tmp_path, cli):
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    assert cli("prep", "clean", "--input", src, "--output", out, "--quiet")[0] == 0
    assert out.read_text() == ""
    code, _, err = cli("prep", "clean", "--input", tmp_path / "nope.jsonl", "--output", out)
    assert code == 2 and "nope.jsonl" in err and "Traceback" not in err


def test_clean_is_deterministic(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [{"id": i, "text": f"record  number {i}\u00a0here"} for i in range(50)])
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    cli("prep", "clean", "--input", src, "--output", a, "--quiet")
    cli("prep", "clean", "--input", src, "--output", b, "--quiet")
    assert a.read_bytes() == b.read_bytes()
