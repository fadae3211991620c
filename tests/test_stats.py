import json


def test_stats_report(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    rows = [{"id": 1, "text": "one two three"}, {"id": 2, "text": "One  two three"},
            {"id": 3, "input": "q", "output": "a b"}, {"id": 4, "input": "", "output": "x", "label": "k"},
            {"id": 5, "messages": [{"role": "user", "content": "hi"}]}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n", encoding="utf-8")
    code, out, _ = cli("prep", "stats", src, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["records"] == 5 and report["errors"] == 1
    assert report["kinds"] == {"input-output": 2, "messages": 1, "text": 2}
    assert report["labelled"] == 1 and report["empty_fields"] == {"input": 1}
    assert report["duplicates"] == 1 and report["duplicate_rate"] == 0.2
    assert report["words"]["max"] == 3 and report["output_words"]["max"] == 2
    code, out, _ = cli("prep", "stats", src)
    assert code == 0 and "records       5" in out and f"{src}:6" in out


def test_stats_judge_alpaca_records_whole(tmp_path, cli):
    """Records that differ only in their instruction are not duplicates; a blank instruction is counted."""
    rows = [{"instruction": "Is 7 prime?", "input": "", "output": "Yes."},
            {"instruction": "Is the sky blue on a clear day?", "input": "", "output": "Yes."},
            {"instruction": "Is 7 prime?", "input": "", "output": "Yes."},
            {"instruction": " ", "input": "x", "output": "Yes."},
            {"instruction": "Summarise.", "context": "", "response": "Short.", "category": "summarization"}]
    src = tmp_path / "alpaca.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, out, _ = cli("prep", "stats", src, "--json")
    report = json.loads(out)
    assert code == 0 and report["duplicates"] == 1
    assert report["empty_fields"] == {"context": 1, "input": 3, "instruction": 1}
    assert report["input_words"]["max"] == 8   # the instruction counts as prompt words
