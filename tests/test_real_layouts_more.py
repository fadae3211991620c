"""More real published layouts (tests/data/preference, tests/data/layouts; sources in SOURCES.md)
through `prep extract jsonl` (auto), `prep clean` and `prep tokenize`: each is read as the shape it
is, a preference pair keeps chosen and rejected apart, a system prompt reaches the tokenized
prompt, a KTO label spelled 1/0 or "true"/"false" stays a label, and a record that cannot be read
is dropped with its reason (exit 2 when nothing is kept), never trained as something else."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.core.records import read_records
from prep.tokenize.arrow_io import read_arrow

DATA = Path(__file__).resolve().parent / "data"


def real(name: str) -> list[dict]:
    return [item.record for item in read_records(DATA / name)]


def orca(r: dict) -> tuple:
    return r["system"], r["question"], r["chosen"], r["rejected"]


def openai(r: dict) -> tuple:
    turns = r["input"]["messages"]
    return (turns[0]["content"], turns[-1]["content"], r["preferred_output"][0]["content"],
            r["non_preferred_output"][0]["content"])


def shp(r: dict) -> tuple:
    a, b = r["human_ref_A"], r["human_ref_B"]
    return "", r["history"], *((a, b) if r["labels"] == 1 else (b, a))


# file -> (layout it must be read as, (system, prompt, chosen, rejected) straight from the source keys)
PAIRS = {"preference/more/orca_dpo_pairs.jsonl": ("question-chosen-rejected", orca),
         "preference/more/openai_dpo.jsonl": ("openai-preference", openai),
         "preference/more/shp.jsonl": ("shp", shp)}


def run_extract(cli, src: Path, out: Path):
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--quiet")
    return code, err


def to_arrow(cli, src: Path, tmp_path: Path, tokenizer: Path) -> list[dict]:
    clean, arrow = tmp_path / "clean.jsonl", tmp_path / "t.arrow"
    code, _, err = cli("prep", "clean", "--input", src, "--output", clean, "--keep-refusals", "--quiet")
    assert code == 0, err
    code, _, err = cli("prep", "tokenize", "--task", "preference", "--input", clean, "--output", arrow,
                       "--tokenizer-path", tokenizer, "--max-length", 4096, "--quiet")
    assert code == 0, err
    return list(read_arrow(arrow))


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_preference_layouts_keep_system_prompt_chosen_and_rejected_apart(cli, tmp_path, tokenizers_dir, name):
    from transformers import AutoTokenizer

    layout, expected = PAIRS[name]
    source, out = real(name), tmp_path / "x.jsonl"
    code, err = run_extract(cli, DATA / name, out)
    assert code == 0, err
    records, rejects, stats = outputs(out)
    assert stats["shapes"] == {layout: len(source)} and rejects == []
    for got, raw in zip(records, source):       # passed through whole: every source key, value for value
        assert {k: v for k, v in got.items() if k not in ("id", "meta")} == raw
    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    rows = to_arrow(cli, out, tmp_path, tokenizers_dir["bos_eos"])
    assert len(rows) == len(source)
    for row, raw in zip(rows, source):
        system, prompt, chosen, rejected = expected(raw)
        shown = tok.decode(row["prompt_input_ids"])
        assert prompt.strip() in shown and chosen.strip() not in shown and rejected.strip() not in shown
        assert system.strip() in shown and (not system.strip() or shown.index(system) < shown.index(prompt))
        assert tok.decode(row["chosen_input_ids"][:-1]) == chosen
        assert tok.decode(row["rejected_input_ids"][:-1]) == rejected


def test_shp_labels_pick_the_preferred_reply(cli, tmp_path):
    raw = real("preference/more/shp.jsonl")[0]
    flipped = dict(raw, labels=1)      # the same pair, people preferring reply A
    broken = dict(raw, labels=2)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in (raw, flipped, broken)), encoding="utf-8")
    from prep.core.shapes import pair_of

    assert pair_of(raw).responses == {"chosen": raw["human_ref_B"], "rejected": raw["human_ref_A"]}
    assert pair_of(flipped).responses == {"chosen": raw["human_ref_A"], "rejected": raw["human_ref_B"]}
    code, err = run_extract(cli, src, tmp_path / "x.jsonl")
    assert code == 0, err
    _, rejects, stats = outputs(tmp_path / "x.jsonl")
    assert stats["kept"] == 2 and [r["reason"] for r in rejects] == ["bad-label"]
    assert "'labels' holds 2" in rejects[0]["detail"] and rejects[0]["where"].endswith(":3")


def kto_variants() -> dict[str, list[dict]]:
    """The real kto-mix records with their labels spelled as other exports write them."""
    recs = real("preference/kto_messages.json")
    return {"int-turns": [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:], "label": int(r["label"])}
                          for r in recs],
            "str-messages": [{"messages": r["messages"], "label": str(r["label"]).lower()} for r in recs],
            "int-texts": [{"prompt": r["messages"][-2]["content"], "completion": r["messages"][-1]["content"],
                           "label": int(r["label"])} for r in recs]}


@pytest.mark.parametrize("variant", sorted(kto_variants()))
def test_kto_labels_as_numbers_or_strings_stay_labels(cli, tmp_path, tokenizers_dir, variant):
    records = kto_variants()[variant]
    truth = [r["label"] for r in real("preference/kto_messages.json")]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, err = run_extract(cli, src, tmp_path / "x.jsonl")
    assert code == 0, err
    kept, _, stats = outputs(tmp_path / "x.jsonl")
    # Read as instruction or chat data, the false-labelled answers would be trained as good ones.
    assert set(stats["shapes"]) <= {"kto", "kto-messages"} and sum(stats["shapes"].values()) == len(records)
    assert all("output" not in r and "input" not in r for r in kept)
    rows = to_arrow(cli, tmp_path / "x.jsonl", tmp_path, tokenizers_dir["bos_eos"])
    assert [row["label"] for row in rows] == truth and False in truth


def test_a_label_that_is_no_kto_label_is_not_dropped_silently(cli, tmp_path):
    good = kto_variants()["int-texts"][0]
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(dict(good, label="yes")) + "\n" + json.dumps(dict(good, label=2)) + "\n")
    code, err = run_extract(cli, src, tmp_path / "x.jsonl")
    assert code == 2, err
    _, rejects, _ = outputs(tmp_path / "x.jsonl")
    assert [r["reason"] for r in rejects] == ["bad-label", "bad-label"]
    assert "'yes'" in rejects[0]["detail"] and "2" in rejects[1]["detail"]
    # a label that is a topic, not a verdict, stays what it was: a prompt/completion record
    src.write_text(json.dumps(dict(good, label="astronomy")) + "\n")
    code, err = run_extract(cli, src, tmp_path / "y.jsonl")
    kept, rejects, stats = outputs(tmp_path / "y.jsonl")
    assert code == 0 and rejects == [] and stats["shapes"] == {"prompt-completion": 1}
    assert kept[0]["label"] == "astronomy" and kept[0]["output"] == good["completion"]


def test_open_orca_keeps_its_system_prompt_and_metamath_its_fields(cli, tmp_path):
    [raw] = real("layouts/more/openorca.jsonl")
    code, err = run_extract(cli, DATA / "layouts/more/openorca.jsonl", tmp_path / "o.jsonl")
    assert code == 0, err
    [got], _, stats = outputs(tmp_path / "o.jsonl")
    assert stats["shapes"] == {"orca": 1} and got["id"] == raw["id"]
    assert got["messages"] == [{"role": "system", "content": raw["system_prompt"]},
                               {"role": "user", "content": raw["question"]},
                               {"role": "assistant", "content": raw["response"]}]
    source = real("layouts/more/metamathqa.json")
    code, err = run_extract(cli, DATA / "layouts/more/metamathqa.json", tmp_path / "m.jsonl")
    assert code == 0, err
    records, _, stats = outputs(tmp_path / "m.jsonl")
    assert stats["shapes"] == {"query-response": len(source)}
    for got, raw in zip(records, source):
        assert (got["input"], got["output"]) == (raw["query"], raw["response"])
        assert (got["type"], got["original_question"]) == (raw["type"], raw["original_question"])


def test_a_layout_that_cannot_be_read_is_named(cli, tmp_path):
    # LIMA's turns are bare strings with no speaker: guessing who spoke is not reading.
    src = tmp_path / "lima.jsonl"
    src.write_text(json.dumps({"conversations": ["Hi?", "Hello."], "source": "stackexchange"}) + "\n")
    code, err = run_extract(cli, src, tmp_path / "x.jsonl")
    assert code == 2
    _, [reject], _ = outputs(tmp_path / "x.jsonl")
    assert reject["reason"] == "bad-messages" and "turn 1 is str" in reject["detail"]


def test_personal_data_is_masked_in_every_text_these_layouts_hold(cli, tmp_path):
    """prep filter masks through clean's map of text fields: the OpenAI file's prompt turns under
    input.messages and its outputs, and SHP's history and replies, are text fields too."""
    [openai] = real("preference/more/openai_dpo.jsonl")
    [shp] = real("preference/more/shp.jsonl")
    mail = "write to jane.roe@gmail.com"
    openai["input"]["messages"][-1]["content"] += f" ({mail})"
    openai["preferred_output"][-1]["content"] += f" ({mail})"
    shp["history"] += f" ({mail})"
    shp["human_ref_B"] += f" ({mail})"
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in (openai, shp)), encoding="utf-8")
    code, _, err = cli("prep", "filter", "--input", src, "--output", tmp_path / "f.jsonl", "--quiet")
    assert code == 0, err
    kept, _, _ = outputs(tmp_path / "f.jsonl")
    text = json.dumps(kept)
    assert "jane.roe@gmail.com" not in text and text.count("<EMAIL>") == 4
