"""Round trip of two real datasets through extract -> clean -> filter -> dedup -> split -> tokenize.

Samples under tests/data/roundtrip/ (sources in its SOURCES.md):
- oasst_code_prompt_completion.jsonl: 30 OpenAssistant answers about code (prompt/completion),
  in English, Spanish, Russian, German, Portuguese and Chinese; tabs in C# and a Makefile, shell
  line continuations (a backslash before the newline), escaped quotes and `\\n` inside string
  literals, trailing spaces in code, one exact duplicate.
- oasst1_message_rows.jsonl: 17 OpenAssistant oasst1 message rows (message_id, parent_id, role,
  text, ...), two whole message trees.

Every kept record is compared field by field, by id, with the record before the stage: only
what the stage documents may change. Tokenized rows are decoded and compared with the records.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "roundtrip"
CODE = DATA / "oasst_code_prompt_completion.jsonl"
ROWS = DATA / "oasst1_message_rows.jsonl"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_id(path: Path) -> dict:
    return {r["id"]: r for r in lines(path)}


def rejects(out: Path) -> list[dict]:
    return lines(Path(f"{out}.rejected.jsonl"))


def clean_line(line: str) -> str:
    """What clean may do to any line, code included: trailing spaces and tabs go."""
    return line.rstrip(" \t")


def assert_only_documented_clean(before: str, after: str) -> None:
    """Code lines (in fences or indented) lose only trailing blanks; prose lines may also have
    runs of spaces between words shrunk to one (prep/clean.py's docstring)."""
    old, new = before.split("\n"), after.split("\n")
    assert len(old) == len(new), "clean added or removed lines"
    fence = False
    for a, b in zip(old, new):
        if a.lstrip().startswith("```"):
            fence = not fence
        if fence or a.startswith(("\t", "    ")):
            assert b == clean_line(a), (a, b)          # code: only trailing blanks
        else:
            assert b == re.sub(r"(?<=\S) {2,}(?=\S)", " ", clean_line(a)), (a, b)


@pytest.fixture(scope="module")
def code_run(tmp_path_factory):
    """The README's steps on the code sample; returns the work folder."""
    from train.cli import main

    work = tmp_path_factory.mktemp("code")
    steps = [
        ["prep", "extract", "jsonl", "--input", CODE, "--output", work / "extracted.jsonl"],
        ["prep", "clean", "--input", work / "extracted.jsonl", "--output", work / "clean.jsonl"],
        ["prep", "filter", "--input", work / "clean.jsonl", "--output", work / "filtered.jsonl", "--lang", "en"],
        ["prep", "dedup", "--input", work / "filtered.jsonl", "--output", work / "dedup.jsonl"],
        ["prep", "split", "--input", work / "dedup.jsonl", "--split_ratio", "0.9,0.1",
         "--train-output", work / "train.jsonl", "--val-output", work / "val.jsonl"],
    ]
    for step in steps:
        assert main([str(a) for a in step] + ["--quiet"]) == 0, step
    return work


def test_extract_keeps_prompt_and_completion_byte_for_byte(code_run):
    source = lines(CODE)
    out = by_id(code_run / "extracted.jsonl")
    assert len(out) == len(source) == 30
    for number, record in enumerate(source, 1):
        got = out[f"{CODE.name}:{number}"]
        assert (got["input"], got["output"]) == (record["prompt"], record["completion"])
    # the tabs, backslash continuations and escaped string literals are there to be kept
    joined = "".join(r["output"] for r in out.values())
    assert "\n\t\t// Calculate new position" in joined and "docker run --detach \\\n    --hostname" in joined
    assert '.asciiz "Solutions:\\n"' in joined   # a backslash-n escape inside MIPS code


def test_clean_changes_only_trailing_blanks_and_prose_spaces(code_run):
    before, after = by_id(code_run / "extracted.jsonl"), by_id(code_run / "clean.jsonl")
    assert before.keys() == after.keys() and rejects(code_run / "clean.jsonl") == []
    for rid, old in before.items():
        assert after[rid].keys() == old.keys()
        for field in ("input", "output"):
            assert_only_documented_clean(old[field], after[rid][field])
    # the one Makefile recipe line starts with a tab, as make requires
    snake = after[f"{CODE.name}:30"]["output"]
    assert "snake: $(OBJS)\n\t$(CC) $(LDFLAGS) $^ -o $@" in snake


def test_filter_dedup_split_pass_kept_records_unchanged(code_run):
    clean = by_id(code_run / "clean.jsonl")
    filtered = by_id(code_run / "filtered.jsonl")
    for rid, record in filtered.items():
        assert record == clean[rid]
    dropped = {r["where"].rsplit(":", 1)[1]: r for r in rejects(code_run / "filtered.jsonl")}
    # --lang en drops exactly the answers written in German, Spanish, Russian, Portuguese and
    # Chinese (read by eye), the mostly-code ones too: their language is read from the prose
    # between the code blocks once it holds 150 characters. No English answer goes.
    assert {r["reason"] for r in dropped.values()} == {"language"}
    assert sorted(map(int, dropped)) == [7, 10, 11, 12, 13, 15, 18, 19, 20, 22, 24, 25, 28, 29, 30]
    assert all(not r["detail"].startswith("en") for r in dropped.values())
    dedup = by_id(code_run / "dedup.jsonl")
    assert [r["reason"] for r in rejects(code_run / "dedup.jsonl")] == ["exact-duplicate"]
    for rid, record in dedup.items():
        assert {k: v for k, v in record.items() if k != "meta"} == \
            {k: v for k, v in filtered[rid].items() if k != "meta"}
    split = {**by_id(code_run / "train.jsonl"), **by_id(code_run / "val.jsonl")}
    assert split == dedup


def trained_spans(input_ids: list[int], labels: list[int]) -> list[list[int]]:
    spans, current = [], []
    for token, label in zip(input_ids, labels):
        if label != -100:
            assert label == token
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


def test_tokenize_trains_exactly_each_answer_and_its_eos(code_run, tokenizers_dir):
    import pyarrow as pa
    from transformers import AutoTokenizer

    from train.cli import main

    tok_dir = tokenizers_dir["bos_eos"]
    arrow = code_run / "train.arrow"
    assert main(["prep", "tokenize", "--input-file", str(code_run / "train.jsonl"), "--output-file",
                 str(arrow), "--tokenizer-path", str(tok_dir), "--max-length", "16384", "--quiet"]) == 0
    tok = AutoTokenizer.from_pretrained(tok_dir)
    rows = pa.ipc.open_stream(arrow.read_bytes()).read_all().to_pylist()
    records = lines(code_run / "train.jsonl")
    assert len(rows) == len(records)
    for record, row in zip(records, rows):
        spans = trained_spans(row["input_ids"], row["labels"])
        assert [tok.decode(s) for s in spans] == [record["output"] + tok.eos_token], record["id"]
        first = next(i for i, label in enumerate(row["labels"]) if label != -100)
        assert all(label == -100 for label in row["labels"][:first])
        prompt = tok.decode(row["input_ids"][:first])
        # the user turn whole, then the assistant marker: nothing glued, nothing of it trained
        assert prompt.endswith(f"<|user|>{record['input']}\n<|assistant|>"), record["id"]


def test_oasst_message_rows_are_not_read_as_text_records(tmp_path, cli):
    """A message row is one turn of a conversation tree: read as {text} it would train the user's
    question as a document and lose every reply's prompt."""
    out = tmp_path / "rows.jsonl"
    code, _, err = cli("prep", "extract", "jsonl", "--input", ROWS, "--output", out, "--quiet")
    assert code == 2 and "message-row" in err
    dropped = rejects(out)
    assert len(dropped) == 17 and {r["reason"] for r in dropped} == {"message-row"}
    assert "message_id" in dropped[0]["detail"] and "--format text" in dropped[0]["detail"]
    # asked for plainly, each message is still a text record, unchanged
    code, _, _ = cli("prep", "extract", "jsonl", "--input", ROWS, "--output", out, "--format", "text", "--quiet")
    assert code == 0
    assert [r["text"] for r in lines(out)] == [r["text"] for r in lines(ROWS)]


def threads(rows: list[dict]) -> list[dict]:
    """Each path from a prompter root to an assistant leaf of the message trees as {messages}."""
    children: dict = {}
    for row in rows:
        children.setdefault(row["parent_id"], []).append(row)
    out, stack = [], [[root] for root in children[None]]
    while stack:
        path = stack.pop(0)
        below = children.get(path[-1]["message_id"], [])
        stack[:0] = [path + [child] for child in below]
        if not below and path[-1]["role"] == "assistant":
            out.append({"id": path[-1]["message_id"], "messages": [
                {"role": "user" if m["role"] == "prompter" else "assistant", "content": m["text"]} for m in path]})
    return out


def test_oasst_threads_train_every_assistant_turn_and_no_user_turn(tmp_path, tokenizers_dir):
    import pyarrow as pa
    from transformers import AutoTokenizer

    from train.cli import main

    convs = threads(lines(ROWS))
    assert [len(c["messages"]) for c in convs] == [4, 4, 2, 4, 4, 2, 2, 2, 2]
    (tmp_path / "threads.jsonl").write_text("".join(json.dumps(c) + "\n" for c in convs), encoding="utf-8")
    for step in (["extract", "jsonl", "--input", tmp_path / "threads.jsonl", "--output", tmp_path / "x.jsonl"],
                 ["clean", "--input", tmp_path / "x.jsonl", "--output", tmp_path / "c.jsonl"],
                 ["filter", "--input", tmp_path / "c.jsonl", "--output", tmp_path / "f.jsonl", "--lang", "en"],
                 ["tokenize", "--input", tmp_path / "f.jsonl", "--output", tmp_path / "t.arrow",
                  "--tokenizer-path", tokenizers_dir["bos_eos"], "--max-length", "4096"]):
        assert main(["prep", *map(str, step), "--quiet"]) == 0, step
    # the two conversations whose first answer opens "I do not have personal opinions" go as refusals
    assert {r["reason"] for r in rejects(tmp_path / "c.jsonl")} == {"refusal"}
    assert rejects(tmp_path / "f.jsonl") == []
    records = lines(tmp_path / "f.jsonl")
    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    rows = pa.ipc.open_stream((tmp_path / "t.arrow").read_bytes()).read_all().to_pylist()
    assert len(rows) == len(records) == 7
    for record, row in zip(records, rows):
        spans = [tok.decode(s) for s in trained_spans(row["input_ids"], row["labels"])]
        answers = [m["content"] + tok.eos_token for m in record["messages"] if m["role"] == "assistant"]
        assert spans == answers, record["id"]
        text = tok.decode(row["input_ids"])
        for m in record["messages"]:
            if m["role"] == "user":
                assert f"<|user|>{m['content']}\n" in text and all(m["content"] not in s for s in spans)
