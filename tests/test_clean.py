import json

from stage_outputs import outputs, read_jsonl

from prep.clean import normalise
from prep.refusals import load_phrases


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_normalise_unicode_and_whitespace():
    # Prose: NFC, invisible and control characters out, odd spaces and runs of spaces to one,
    # blank-line runs to one, trailing spaces off. Tabs are kept (they may be data).
    raw = "Cafe\u0301\u00a0 au   lait  \r\n\r\n\r\n\r\nline\u200b two\t\tend \x07"
    assert normalise(raw) == "Café au lait\n\nline two\t\tend"


def test_builtin_phrases_speak_as_the_assistant_and_are_extensible(tmp_path):
    builtin = dict(load_phrases())
    assert len(builtin) >= 50 and set(builtin.values()) == {"refusals.txt"}
    assert "as an ai language model" in builtin and "^i cannot fulfill" in builtin
    # Bare names and topics are data in code and subjects of prose, not refusals.
    assert not {"openai", "chatgpt", "ethical guidelines", "respectful and inclusive"} & set(builtin)
    extra = tmp_path / "extra.txt"
    extra.write_text("# mine\nBanana  Protocol\n^Nope\n", encoding="utf-8")
    assert load_phrases(extra)[-2:] == [("banana protocol", "extra.txt"), ("^nope", "extra.txt")]


def test_clean_drops_refusals_on_output_side_with_reasons(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "input": "Tell me a joke", "output": "Why did the chicken cross the road?"},
        {"id": 2, "input": "Do it", "output": "As an AI Language Model, I cannot do that."},
        {"id": 3, "input": "Is OpenAI a company?", "output": "Yes, OpenAI is a company in San Francisco."},
        {"id": 4, "input": "x", "output": "I\u2019m sorry, but I can\u2019t help with that."},
        {"id": 5, "text": "A plain text record mentioning ethical guidelines for surgeons."},
        {"id": 6, "messages": [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "I cannot fulfill this request."}]},
        {"id": 7, "input": "empty answer", "output": "   "},
    ])
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli("prep", "clean", "--input", src, "--output", out, "--quiet")
    assert code == 0
    # "OpenAI" as a subject and "ethical guidelines" in prose are not refusals.
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == [1, 3, 5]
    rejects = {r["record"]["id"]: r for r in rejected}
    assert rejects[2]["reason"] == "refusal"
    assert rejects[2]["detail"] == "self-ai: matched 'As an AI Language Model'"
    assert rejects[4]["reason"] == "refusal"   # curly apostrophes matched as straight ones
    assert rejects[4]["detail"].startswith("decline: matched \"I'm sorry, but I can't")
    assert rejects[6]["reason"] == "refusal" and rejects[6]["detail"].startswith("decline:")
    assert rejects[7]["reason"] == "empty"
    assert all(r["where"].startswith(f"{src}:") for r in rejected)
    assert stats["read"] == 7 and stats["dropped"] == {"empty": 1, "refusal": 3}


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
    rejects = {r["record"]["id"]: r for r in outputs(out)[1]}
    assert {k: r["reason"] for k, r in rejects.items()} == {
        "b": "too-short", "c": "too-long", "d": "refusal", "e": "refusal"}
    assert rejects["e"]["detail"] == "phrase from phrases.txt: matched 'banana protocol'"
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
    rejects = outputs(out)[1]
    assert [r["where"] for r in rejects] == [f"{src}:2", f"{src}:3", f"{src}:4"]
    assert "not UTF-8" in rejects[1]["detail"] and "expected a JSON object" in rejects[2]["detail"]
    stats = outputs(out)[2]
    assert (stats["read"], stats["kept"], stats["errors"]) == (5, 2, 3)


def test_empty_file_and_missing_input(tmp_path, cli):
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "clean", "--input", src, "--output", out, "--quiet")
    assert code == 2 and "kept 0 of 0" in err and "Traceback" not in err   # nothing kept is a failure
    code, _, err = cli("prep", "clean", "--input", tmp_path / "nope.jsonl", "--output", out)
    assert code == 2 and "nope.jsonl" in err and "Traceback" not in err


def test_clean_is_deterministic(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [{"id": i, "text": f"record  number {i}\u00a0here"} for i in range(50)])
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    cli("prep", "clean", "--input", src, "--output", a, "--quiet")
    cli("prep", "clean", "--input", src, "--output", b, "--quiet")
    assert a.read_bytes() == b.read_bytes()


def test_every_layout_is_judged_by_its_own_response_field(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": "g", "prompt": "Capital of Australia?", "generation": "Canberra."},
        {"id": "d", "instruction": "Summarise", "context": "A  text.", "response": "A short text."},
        {"id": "q", "question": "2+2?", "answer": "   "},
        {"id": "s", "conversations": [{"from": "human", "value": "hi"},
                                      {"from": "gpt", "value": "As an AI language model, I have no name."}]},
    ])
    out = tmp_path / "out.jsonl"
    assert cli("prep", "clean", "--input", src, "--output", out, "--quiet")[0] == 0
    kept, rejected, _ = outputs(out)
    assert [r["id"] for r in kept] == ["g", "d"] and kept[1]["context"] == "A text."
    assert {r["record"]["id"]: r["reason"] for r in rejected} == {"q": "empty", "s": "refusal"}
