"""One shapes module: every path that reads a record (extract, clean, dedup, tokenize, the runner's
on-the-fly data) sees the same prompt and response, so the same record gives the same token ids."""
from __future__ import annotations

import json
import types
from collections import Counter
from pathlib import Path

import pytest

from prep.core import shapes
from prep.core.records import read_records
from prep.tokenize.encode import TokenizeConfig, encode_records
from prep.tokenize.encode import load_tokenizer as load_prep_tokenizer

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "instructions.jsonl"


def raw_records() -> list[dict]:
    return [item.record for item in read_records(RAW) if item.record is not None]


def alpaca_records() -> list[dict]:
    found = [r for r in raw_records() if "instruction" in r]
    assert any(r.get("input") for r in found) and any(not r.get("input") for r in found)
    return found


def test_alpaca_prompt_rule():
    both = {"instruction": "Solve for x.", "input": "3x + 7 = 25", "output": "x = 6"}
    alone = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
    assert shapes.view(both) == ("supervised", "Solve for x.\n\n3x + 7 = 25", "x = 6")
    assert shapes.view(alone) == ("supervised", "Name a colour.", "Blue.")
    assert shapes.view({**alone, "input": "   "})[1] == "Name a colour."


def test_one_role_map_for_sharegpt_and_messages():
    sharegpt = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                  {"from": "gpt", "value": "Hello."}]}
    messages = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                             {"role": "assistant", "content": "Hello."}]}
    assert shapes.view(sharegpt) == shapes.view(messages)
    assert shapes.kind(sharegpt) == shapes.kind(messages) == "messages"
    with pytest.raises(shapes.Unusable) as caught:
        shapes.view({"conversations": [{"from": "narrator", "value": "x"}]})
    assert caught.value.reason == "bad-messages" and "narrator" in caught.value.detail


def test_text_that_is_not_a_string_is_unusable_not_spelled_out():
    for bad in ({"text": 5}, {"text": [1, 2]}, {"input": "q", "output": None}, {"input": "q", "output": 3.5}):
        with pytest.raises(shapes.Unusable):
            shapes.view(bad)


def test_main_text_includes_the_instruction():
    """Two records that differ only in their instruction are not the same record."""
    a = {"instruction": "Is 7 prime?", "input": "", "output": "Yes."}
    b = {"instruction": "Is the sky blue on a clear day?", "input": "", "output": "Yes."}
    assert shapes.main_text(a) != shapes.main_text(b)
    assert shapes.response_text(a) == shapes.response_text(b) == "Yes."


@pytest.fixture(scope="module")
def tokenizer(tokenizers_dir):
    return load_prep_tokenizer(str(tokenizers_dir["bos_eos"]))


def ids_of(records: list[dict], tokenizer) -> list[tuple]:
    return [(tuple(e["input_ids"]), tuple(e["labels"]))
            for e in encode_records(records, tokenizer, TokenizeConfig(max_length=512), Counter())]


def test_extract_tokenize_and_runner_give_the_same_ids(tmp_path, cli, tokenizer, tokenizers_dir):
    records = alpaca_records()
    source = tmp_path / "alpaca.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    direct = ids_of(records, tokenizer)

    code, _, err = cli("prep", "extract", "jsonl", "--input", source, "--output", tmp_path / "x.jsonl", "--quiet")
    assert code == 0, err
    extracted = [item.record for item in read_records(tmp_path / "x.jsonl")]
    assert len(extracted) == len(records)
    assert ids_of(extracted, tokenizer) == direct

    from train.lm.data import load_jsonl
    data_args = types.SimpleNamespace(dataset_format=None, max_length=512, train_on_source=False,
                                      source_max_len=None, target_max_len=None)
    on_the_fly = load_jsonl(str(source), tokenizer, data_args, ())
    assert [(tuple(i), tuple(label)) for i, label in zip(on_the_fly["input_ids"], on_the_fly["labels"])] == direct

    # The stage's own Arrow output holds the same ids again.
    code, _, err = cli("prep", "tokenize", "--input-file", source, "--output-file", tmp_path / "t.arrow",
                       "--tokenizer-path", tokenizers_dir["bos_eos"], "--max-length", 512, "--quiet")
    assert code == 0, err
    from prep.tokenize.arrow_io import read_arrow
    table = read_arrow(str(tmp_path / "t.arrow"))
    assert [(tuple(i), tuple(label)) for i, label in zip(table["input_ids"], table["labels"])] == direct
