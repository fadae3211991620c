"""`tunesmith prep extract jsonl`: instruction shapes mapped, broken input counted, never a crash."""
from __future__ import annotations

import json
from pathlib import Path

from stage_outputs import outputs, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "raw" / "instructions.jsonl"
LAYOUTS = ROOT / "tests" / "data" / "layouts"


def write_lines(path: Path, *objects) -> Path:
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects),
                    encoding="utf-8")
    return path


SHAPED = [
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5", "topic": "math"},
    {"instruction": "Name a colour.", "input": "", "output": "Teal."},
    {"prompt": "Say hi.", "generation": "Hi!"},
    {"prompt": "Count to two.", "completion": "One, two."},
    {"id": "io-1", "input": "Q", "output": "A", "label": "x"},
    {"text": "Plain text.", "meta": {"lang": "en"}},
    {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hello"},
                       {"from": "gpt", "value": "Hi."}]},
    {"messages": [{"role": "user", "content": "Ping"}, {"role": "assistant", "content": "Pong"}]},
]


def test_each_shape_is_mapped(cli, tmp_path):
    src = write_lines(tmp_path / "mixed.jsonl", *SHAPED)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert rejects == [] and len(records) == len(SHAPED)
    source = {"source": str(src)}
    # The two parts are kept in meta for --prompt-format alpaca's ### Input: section.
    parts = {"prompt_parts": {"instruction": "Add the numbers.", "input": "2 and 3"}}
    assert records[0] == {"id": "mixed.jsonl:1", "input": "Add the numbers.\n\n2 and 3", "output": "5",
                          "topic": "math", "meta": {**source, **parts}}
    assert records[1]["input"] == "Name a colour."            # an empty alpaca input adds nothing
    assert (records[2]["input"], records[2]["output"]) == ("Say hi.", "Hi!")
    assert (records[3]["input"], records[3]["output"]) == ("Count to two.", "One, two.")
    assert records[4] == {"id": "io-1", "input": "Q", "output": "A", "label": "x", "meta": source}
    assert records[5] == {"id": "mixed.jsonl:6", "text": "Plain text.", "meta": {"lang": "en", **source}}
    assert records[6]["messages"] == [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "Hello"},
                                      {"role": "assistant", "content": "Hi."}]
    assert records[7]["messages"][1] == {"role": "assistant", "content": "Pong"}
    assert stats["shapes"] == {"alpaca": 2, "input-output": 1, "messages": 1, "prompt-completion": 1,
                               "prompt-generation": 1, "sharegpt": 1, "text": 1}


def test_unknown_and_unusable_records_are_dropped_with_reasons(cli, tmp_path):
    src = write_lines(tmp_path / "odd.jsonl",
                      {"query": "Q?", "reply": "A."},
                      {"instruction": "Do it.", "output": "   "},
                      {"conversations": [{"from": "narrator", "value": "Once..."}]},
                      {"text": ["not", "a", "string"]},
                      {"text": "fine"})
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["fine"]
    assert [(r["reason"], r["where"]) for r in rejects] == [
        ("unknown-shape", f"{src}:1"), ("empty", f"{src}:2"), ("bad-messages", f"{src}:3"),
        ("not-text", f"{src}:4")]
    assert rejects[0]["detail"].startswith("keys: query, reply")
    assert "narrator" in rejects[2]["detail"]


def test_explicit_format_names_the_missing_key(cli, tmp_path):
    src = write_lines(tmp_path / "data.jsonl", SHAPED[0], SHAPED[2], {"instruction": "No answer."})
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--format", "alpaca")
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert len(records) == 1
    assert [r["reason"] for r in rejects] == ["missing-keys", "missing-keys"]
    assert rejects[0]["detail"] == "alpaca needs 'instruction', 'output'"
    assert rejects[1]["detail"] == "alpaca needs 'output'"


def test_text_key(cli, tmp_path):
    src = write_lines(tmp_path / "body.jsonl", {"body": "Some words.", "lang": "en"})
    out = tmp_path / "out.jsonl"
    code, _, _ = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--format", "text",
                     "--text-key", "body")
    assert code == 0
    assert read_jsonl(out) == [{"id": "body.jsonl:1", "text": "Some words.", "lang": "en",
                                "meta": {"source": str(src)}}]


def test_broken_lines_and_bad_bytes_are_errors_with_file_and_line(cli, tmp_path):
    src = tmp_path / "broken.jsonl"
    src.write_bytes(b'{"text": "first"}\n{"text": "no end\n\n{"text": "\xff\xfe bad bytes"}\n[1, 2]\n'
                    b'{"text": "last"}\n')
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out)
    assert code == 0
    records, rejects, stats = outputs(out)
    assert [r["text"] for r in records] == ["first", "last"]
    assert [r["where"] for r in rejects] == [f"{src}:2", f"{src}:4", f"{src}:5"]
    assert "invalid JSON" in rejects[0]["detail"] and "not UTF-8" in rejects[1]["detail"]
    assert stats["errors"] == 3 and stats["read"] == 5
    assert f"{src}:2" in err


def test_empty_file_and_json_array_in_a_folder(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_empty.jsonl").write_text("")
    (folder / "b.json").write_text(json.dumps([{"prompt": "P", "generation": "G"}, {"text": "T"}, 7]))
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", folder, "--output", out)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert [r["id"] for r in records] == ["b.json:[0]", "b.json:[1]"]
    assert rejects[0]["where"] == f"{folder / 'b.json'}:[2]"
    assert stats["read"] == 3 and len(stats["inputs"]) == 2
    out = tmp_path / "empty.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", folder / "a_empty.jsonl", "--output", out)
    assert code == 2 and "kept 0 of 0" in err and out.read_text() == ""


def test_sample_counts_and_byte_identical_rerun(cli, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (first, second):
        code, _, err = cli("prep", "extract", "jsonl", "--input", SAMPLE, "--output", out, "--quiet")
        assert code == 0, err
    assert first.read_bytes() == second.read_bytes()
    records, rejects, stats = outputs(first)
    assert stats["shapes"] == {"alpaca": 28, "prompt-generation": 6, "sharegpt": 6}
    assert len(records) == 40 and rejects == []
    outputs_text = [r.get("output", "") for r in records]
    assert sum("As an AI language model" in o for o in outputs_text) >= 1
    assert len({json.dumps({k: v for k, v in r.items() if k not in ("id", "meta")}) for r in records}) == 35


def test_published_layouts_and_map(cli, tmp_path):
    """Dolly, GPTeacher-style, question/answer and capitalised keys are read, not dropped; --map names
    anything else; keys the layout does not use pass through."""
    src = write_lines(tmp_path / "mixed.jsonl",
                      {"instruction": "Who wrote it?", "context": "Hamlet is a play by Shakespeare.",
                       "response": "Shakespeare.", "category": "closed_qa"},
                      {"instruction": "Name a prime.", "context": "", "response": "7", "category": "open_qa"},
                      {"instruction": "Square it.", "input": "3", "response": "9"},
                      {"question": "Capital of France?", "answer": "Paris."},
                      {"Instruction": "Say hi.", "Response": "Hi."},
                      {"query": "2+2?", "reply": "4"})
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--quiet")
    assert code == 0, err
    records, rejects, _ = outputs(out)
    assert [(r["input"], r["output"]) for r in records] == [
        ("Who wrote it?\n\nHamlet is a play by Shakespeare.", "Shakespeare."), ("Name a prime.", "7"),
        ("Square it.\n\n3", "9"), ("Capital of France?", "Paris."), ("Say hi.", "Hi.")]
    assert records[0]["category"] == "closed_qa" and "context" not in records[0] and "response" not in records[0]
    assert "Instruction" not in records[4]
    assert [r["reason"] for r in rejects] == ["unknown-shape"]
    assert rejects[0]["detail"].startswith("keys: query, reply") and "--map" in rejects[0]["detail"]
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--quiet",
                       "--map", "input=query,output=reply")
    records, rejects, _ = outputs(out)
    assert code == 0 and rejects == [] and records[-1]["input"] == "2+2?" and records[-1]["output"] == "4"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--map", "output")
    assert code == 2 and "KEY=SOURCE_KEY" in err


PREFERENCE = ROOT / "tests" / "data" / "preference"


def test_real_preference_records_pass_through_with_their_own_keys(cli, tmp_path):
    """Pairs (UltraFeedback, LLaMA-Factory's ShareGPT pairs, hh-rlhf) and KTO rows keep every key and
    value: a pair read as an SFT layout would glue the chosen answer to the prompt and lose the
    rejected one."""
    sources = sorted(PREFERENCE.glob("*.json*"))
    assert len(sources) == 4
    for src in sources:
        text = src.read_text(encoding="utf-8")
        given = json.loads(text) if src.suffix == ".json" else [json.loads(line) for line in text.splitlines()]
        out = tmp_path / f"{src.stem}.out.jsonl"
        code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out)
        assert code == 0, err
        records, rejects, stats = outputs(out)
        assert rejects == [] and len(records) == len(given), src.name
        assert sum(stats["shapes"].values()) == len(given)
        for number, (before, after) in enumerate(zip(given, records), 1):
            # A JSON array's records are placed by index, a JSONL file's by line.
            where = f"[{number - 1}]" if src.suffix == ".json" else str(number)
            assert after["id"] == before.get("id", f"{src.name}:{where}")
            assert after["meta"] == {**before.get("meta", {}), "source": str(src)}
            kept = {k: v for k, v in after.items() if k not in ("id", "meta")}
            assert list(kept) == [k for k in before if k not in ("id", "meta")]
            assert json.dumps(kept) == json.dumps({k: v for k, v in before.items() if k not in ("id", "meta")})


def test_a_broken_preference_record_is_dropped_with_its_reason(cli, tmp_path):
    src = write_lines(tmp_path / "pairs.jsonl",
                      {"prompt": "Pick one.", "chosen": "This one.", "rejected": "That one."},
                      {"prompt": "Pick one.", "chosen": 7, "rejected": "That one."})
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert len(records) == 1 and records[0]["chosen"] == "This one."
    assert len(rejects) == 1 and "pairs.jsonl:2" in json.dumps(rejects[0])
    assert stats["shapes"] == {"prompt-chosen-rejected": 1}


def test_records_wrapped_in_an_object_are_read_with_records_key(cli, tmp_path):
    """Super-NaturalInstructions ships one object per task with its examples in lists: read as it
    is, it is one unknown record (and the reject says which key lists objects); --records-key
    reads each listed object as a record, with its place in the file as its where."""
    task = LAYOUTS / "natural_instructions_task1146_excerpt.json"
    source = json.loads(task.read_text(encoding="utf-8"))
    out = tmp_path / "task.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", task, "--output", out, "--quiet")
    assert code == 2
    detail = outputs(out)[1][0]["detail"]
    assert "'Positive Examples' lists 2 objects" in detail and "--records-key Positive Examples" in detail
    code, _, err = cli("prep", "extract", "jsonl", "--input", task, "--output", out, "--quiet",
                       "--records-key", "Positive Examples")
    assert code == 0, err
    kept, rejected, stats = outputs(out)
    assert [(r["input"], r["output"], r["explanation"]) for r in kept] == \
        [(e["input"], e["output"], e["explanation"]) for e in source["Positive Examples"]]
    assert [r["id"] for r in kept] == [f"{task.name}:[0]/Positive Examples[{j}]" for j in range(2)]
    assert rejected == [] and stats["read"] == 2
    # Instances hold a list of accepted answers, not a text: each is rejected, with its place
    code, _, _ = cli("prep", "extract", "jsonl", "--input", task, "--output", out, "--quiet",
                     "--records-key", "Instances")
    rejected = outputs(out)[1]
    assert code == 2 and [r["where"] for r in rejected] == [f"{task}:[0]/Instances[{j}]" for j in range(3)]
    # a key that lists nothing there is an error of that item, named
    broken = write_lines(tmp_path / "lines.jsonl", {"data": [{"text": "kept"}, 7]}, {"data": "no list"})
    code, _, err = cli("prep", "extract", "jsonl", "--input", broken, "--output", out, "--quiet",
                       "--records-key", "data")
    kept, rejected, stats = outputs(out)
    assert code == 0 and [r["text"] for r in kept] == ["kept"] and stats["errors"] == 2
    assert [(r["where"], r["detail"], r["raw"]) for r in rejected] == [
        (f"{broken}:1/data[1]", "expected a JSON object, got int", "7"),
        (f"{broken}:2", "--records-key 'data': expected a list of objects there, found str (keys: data)",
         '{"data": "no list"}')]
