"""Real published instruction data (tests/data/layouts, sources in SOURCES.md) through extract and
tokenize: every record of a known layout is kept, its response comes out byte for byte, nothing is
glued, and a layout that cannot be read is named, never passed over with exit 0."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.core.shapes import ROLES
from prep.tokenize.encode import TokenizeConfig, encode_records, load_tokenizer

LAYOUTS = Path(__file__).resolve().parent / "data" / "layouts"
# file -> (the key holding the response, the key holding the start of the prompt); None: chat turns.
SUPERVISED = {
    "alpaca_codealpaca.json": ("output", "instruction"),
    "alpaca_codealpaca20k_pandas_lines.json": ("output", "instruction"),  # JSON Lines under a .json name
    "dolly.jsonl": ("response", "instruction"),
    "gpteacher_codegen.json": ("response", "instruction"),
    "gpteacher_roleplay.json": ("response", "instruction"),
    "prompt_completion.jsonl": ("completion", "prompt"),
    "prompt_completion_endoftext.jsonl": ("completion", "prompt"),
    "question_answer.jsonl": ("answer", "question"),
    "instruction_output_no_input.json": ("output", "instruction"),
    "hostile_human_assistant_transcript.json": ("output", "instruction"),
}
CHATS = ["sharegpt.json", "sharegpt_toolcalls.json", "openai_messages.jsonl", "hostile_openai_messages_toy.jsonl"]


def source_records(path: Path) -> list[dict]:
    """The file's objects, parsed here independently of the project's reader."""
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
        return value if isinstance(value, list) else [value]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def extract(cli, tmp_path, name: str):
    out = tmp_path / (name + ".out.jsonl")
    code, _, err = cli("prep", "extract", "jsonl", "--input", LAYOUTS / name, "--output", out, "--quiet")
    return code, err, out


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_supervised_layouts_are_kept_whole(cli, tmp_path, name):
    response_key, prompt_key = SUPERVISED[name]
    source = source_records(LAYOUTS / name)
    code, err, out = extract(cli, tmp_path, name)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert rejects == [] and len(records) == len(source) == stats["read"]
    for got, raw in zip(records, source):
        assert got["output"] == raw[response_key]            # byte for byte: code indentation included
        assert got["input"].startswith(raw[prompt_key])
        extra = raw.get("input", raw.get("context", ""))
        if extra.strip() and extra.strip() != "< noinput >":
            assert got["input"] == raw[prompt_key] + "\n\n" + extra  # never glued to the instruction
        else:
            assert got["input"] == raw[prompt_key]


@pytest.mark.parametrize("name", CHATS)
def test_chat_layouts_keep_every_turn(cli, tmp_path, name):
    source = source_records(LAYOUTS / name)
    code, err, out = extract(cli, tmp_path, name)
    assert code == 0, err
    records, rejects, _ = outputs(out)
    assert rejects == [] and len(records) == len(source)
    for got, raw in zip(records, source):
        turns = raw.get("messages") or raw["conversations"]
        contents = [t.get("content", t.get("value")) for t in turns]
        system = raw.get("system")
        expected = ([system] if system and turns[0].get("from", turns[0].get("role")) != "system" else []) + contents
        assert [m["content"] for m in got["messages"]] == expected
        assert {m["role"] for m in got["messages"]} <= set(ROLES.values())


def test_a_file_of_no_known_layout_fails_loudly(cli, tmp_path):
    """WizardLM's test set: capitalised keys but no response at all."""
    code, err, out = extract(cli, tmp_path, "hostile_capitalised_instruction.jsonl")
    assert code == 2 and "kept 0 of 12" in err and "unknown-shape" in err


# Completions that end in the literal stop text of GPT-style models.
ENDOFTEXT = "prompt_completion_endoftext.jsonl"


def test_every_kept_record_tokenizes_with_its_response_trained(cli, tmp_path, tokenizers_dir):
    tok = load_tokenizer(str(tokenizers_dir["bos_eos"]))
    records = []
    for name in sorted(set(SUPERVISED) - {ENDOFTEXT}) + CHATS:
        code, err, out = extract(cli, tmp_path, name)
        assert code == 0, err
        records += outputs(out)[0]
    drops: list = []
    config = TokenizeConfig(max_length=60_000)
    examples = list(encode_records(records, tok, config, Counter(), on_drop=lambda r, reason, d: drops.append(reason)))
    assert drops == [] and len(examples) == len(records)
    supervised = [(r, e) for r, e in zip(records, examples) if "output" in r]
    for record, example in supervised:
        trained = tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100])
        assert trained == record["output"] + tok.eos_token   # the answer alone is trained, then one EOS


@pytest.mark.parametrize("flavour, kept", [("no_bos", True), ("bos_eos", False)])
def test_a_literal_stop_text_is_the_eos_or_a_rejected_special_token(cli, tmp_path, tokenizers_dir, flavour, kept):
    """With a tokenizer whose EOS is <|endoftext|> the trailing stop text is the example's one EOS;
    with one for which it is another special token, the record is rejected, never trained as text."""
    tok = load_tokenizer(str(tokenizers_dir[flavour]))
    code, err, out = extract(cli, tmp_path, ENDOFTEXT)
    assert code == 0, err
    records = outputs(out)[0]
    assert all(r["output"].endswith("<|endoftext|>") for r in records)
    drops: list = []
    examples = list(encode_records(records, tok, TokenizeConfig(max_length=4096), Counter(),
                                   on_drop=lambda r, reason, d: drops.append((reason, d))))
    if kept:
        assert drops == [] and all(e["input_ids"].count(tok.eos_token_id) == 1 for e in examples)
    else:
        assert examples == [] and {reason for reason, _ in drops} == {"special-token-in-text"}
        assert "'<|endoftext|>' in the output" in drops[0][1]
