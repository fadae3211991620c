"""Preference data on real samples (tests/data/preference): every layout reads as prompt + responses,
goes through clean -> dedup -> split -> tokenize --task preference -> inspect, and comes out as the
Arrow rows the preference trainer reads; broken records are rejected with file:line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prep.core.records import read_records
from prep.core.shapes import group_text, hh_split, main_text, pair_of
from prep.tokenize.arrow_io import read_arrow, read_metadata
from prep.tokenize.preference.rows import PreferenceWriter, for_trl

DATA = Path(__file__).parent / "data" / "preference"


def real(name: str) -> list[dict]:
    return [item.record for item in read_records(DATA / name)]


def uf_lists() -> list[dict]:
    """UltraFeedback-binarized's layout (turn lists repeating the user turn) of the real UF records."""
    return [{"prompt": r["prompt"], "prompt_id": r["prompt_id"],
             "chosen": [{"content": r["prompt"], "role": "user"}, {"content": r["chosen"], "role": "assistant"}],
             "rejected": [{"content": r["prompt"], "role": "user"}, {"content": r["rejected"], "role": "assistant"}],
             "score_chosen": r["score_chosen"], "score_rejected": r["score_rejected"]}
            for r in real("ultrafeedback_strings.jsonl")]


def kto_trl() -> list[dict]:
    """TRL's KTO layout (prompt turns, completion turn, label) of the real kto-mix records."""
    return [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:], "label": r["label"]}
            for r in real("kto_messages.json")]


LAYOUTS = {"hh-rlhf": lambda: real("hh_rlhf.jsonl"), "ultrafeedback": lambda: real("ultrafeedback_strings.jsonl"),
           "ultrafeedback-lists": uf_lists, "sharegpt": lambda: real("sharegpt_pairs.json"),
           "kto-messages": lambda: real("kto_messages.json"), "kto-trl": kto_trl}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_layout_reads_as_a_prompt_and_its_responses():
    dinosaurs = pair_of(real("hh_rlhf.jsonl")[0])
    assert [t["role"] for t in dinosaurs.prompt] == ["user", "assistant", "user", "assistant", "user"]
    assert dinosaurs.prompt[-1]["content"] == "you cant read"
    assert dinosaurs.responses == {"chosen": "You can read?", "rejected": "there’s a lot of stuff humans don’t know"}
    for record, listed in zip(real("ultrafeedback_strings.jsonl"), uf_lists()):
        assert pair_of(record).responses == pair_of(listed).responses   # the shared user turn is the prompt
        assert pair_of(listed).prompt == [{"role": "user", "content": record["prompt"]}]
        assert main_text(record) == f"{record['prompt']}\n{record['chosen']}"   # what dedup compares
        assert group_text(record) == record["prompt"]                           # what split groups by
    sharegpt = pair_of(real("sharegpt_pairs.json")[1])
    assert sharegpt.prompt[0]["content"] == "How can I best prepare for a job interview?"
    kto = [pair_of(r) for r in kto_trl()]
    assert [p.label for p in kto] == [True, False, True, True, False, True]
    assert [p.responses for p in kto] == [pair_of(r).responses for r in real("kto_messages.json")]


def test_clean_judges_both_responses_and_changes_only_what_it_owns(cli, tmp_path):
    src = write(tmp_path / "hh.jsonl", real("hh_rlhf.jsonl"))
    assert cli("prep", "clean", "--input", src, "--output", tmp_path / "c.jsonl", "--quiet")[0] == 0
    before, after = real("hh_rlhf.jsonl"), lines(tmp_path / "c.jsonl")
    assert after[0] == before[0]                      # nothing to change: every byte of every value kept
    assert after[1]["chosen"] == before[1]["chosen"]
    # The rejected answer's double spaces after sentences go; its turns and markers stay.
    assert after[1]["rejected"] == before[1]["rejected"].replace(".  ", ". ")
    assert hh_split(after[1]["rejected"])[1][0] == hh_split(before[1]["rejected"])[1][0]
    # UltraFeedback prompt_7: a disclaimer in the rejected answer is kept unless asked for.
    src = write(tmp_path / "uf.jsonl", real("ultrafeedback_strings.jsonl"))
    assert cli("prep", "clean", "--input", src, "--output", tmp_path / "u.jsonl", "--quiet")[0] == 0
    assert len(lines(tmp_path / "u.jsonl")) == 5
    assert cli("prep", "clean", "--input", src, "--output", tmp_path / "b.jsonl", "--quiet",
               "--refusals-in", "both")[0] == 0
    [drop] = lines(tmp_path / "b.jsonl.rejected.jsonl")
    assert drop["reason"] == "refusal" and drop["detail"].startswith("rejected: ")
    assert drop["where"].endswith("uf.jsonl:4")
    # Either response failing drops the pair, the detail naming it.
    short = real("ultrafeedback_strings.jsonl")[4]   # a 10-word prompt, 12- and 10-word answers
    pairs = [short, dict(short, chosen=" \n "), dict(short, rejected="word " * 50)]
    src = write(tmp_path / "bad.jsonl", pairs)
    cli("prep", "clean", "--input", src, "--output", tmp_path / "d.jsonl", "--max-words", "40", "--quiet")
    assert lines(tmp_path / "d.jsonl") == [short]
    assert [(r["reason"], r["detail"]) for r in lines(tmp_path / "d.jsonl.rejected.jsonl")] == [
        ("empty", "the chosen response is empty"), ("too-long", "rejected: 60 words > 40")]


def test_dedup_keys_on_prompt_and_chosen(cli, tmp_path):
    records = real("ultrafeedback_strings.jsonl")
    again = dict(records[4], rejected=records[0]["rejected"], prompt_id="again")   # same prompt and chosen
    other = dict(records[4], chosen=records[4]["rejected"], prompt_id="other-chosen")   # same prompt, other chosen
    src = write(tmp_path / "in.jsonl", records + [again, other])
    code, _, err = cli("prep", "dedup", "--input", src, "--output", tmp_path / "d.jsonl", "--quiet")
    assert code == 0, err
    kept = [r["prompt_id"] for r in lines(tmp_path / "d.jsonl")]
    assert "again" not in kept and "other-chosen" in kept and len(kept) == 6
    [drop] = lines(tmp_path / "d.jsonl.rejected.jsonl")
    assert drop["reason"] == "exact-duplicate" and drop["where"].endswith("in.jsonl:6")


def test_split_keeps_every_prompt_on_one_side(cli, tmp_path):
    records = [dict(r, chosen=f"{r['chosen']} ({n})", prompt_id=f"{r['prompt_id']}/{n}")
               for r in real("ultrafeedback_strings.jsonl") for n in range(4)]
    src = write(tmp_path / "in.jsonl", records)
    assert cli("prep", "split", "--input", src, "--split_ratio", "0.5,0.5", "--quiet")[0] == 0
    train = {r["prompt"] for r in lines(tmp_path / "train.jsonl")}
    val = {r["prompt"] for r in lines(tmp_path / "val.jsonl")}
    assert train and val and not train & val and len(train | val) == 5


def pipeline(cli, tmp_path: Path, records: list[dict], tokenizer, *flags) -> Path:
    src = write(tmp_path / "in.jsonl", records)
    for stage, args in (("clean", ()), ("dedup", ())):
        out = tmp_path / f"{stage}.jsonl"
        code, _, err = cli("prep", stage, "--input", src, "--output", out, "--quiet", *args)
        assert code == 0, err
        src = out
    code, _, err = cli("prep", "split", "--input", src, "--split_ratio", "1,0", "--train-output",
                       tmp_path / "train.jsonl", "--quiet")
    assert code == 0, err
    out = tmp_path / "pref.arrow"
    code, _, err = cli("prep", "tokenize", "--task", "preference", "--input", tmp_path / "train.jsonl",
                       "--output", out, "--tokenizer-path", tokenizer, "--quiet", *flags)
    assert code == 0, err
    return out


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_round_trips_to_rows_that_inspect_passes(cli, tmp_path, tokenizers_dir, layout):
    from transformers import AutoTokenizer

    records, path = LAYOUTS[layout](), tokenizers_dir["bos_eos"]
    # The tiny tokenizer (300 tokens) spells UltraFeedback's longest answer in 2,024 tokens.
    out = pipeline(cli, tmp_path, records, path, "--max-length", 4096)
    tok = AutoTokenizer.from_pretrained(path)
    rows = read_arrow(out)
    kto = layout.startswith("kto")
    assert read_metadata(out)["kind"] == ("kto" if kto else "pairs")
    cleaned = lines(tmp_path / "train.jsonl")   # what tokenize read: every record through clean, dedup, split
    assert len(rows) == len(cleaned) == len(records)
    for record, row in zip(cleaned, rows):
        pair = pair_of(record)
        prompt = tok.decode(row["prompt_input_ids"])
        assert prompt.startswith("<s>") and prompt.endswith("<|assistant|>")   # the chat template's opening and cue
        assert pair.prompt[-1]["content"].strip() in prompt
        for name, text in pair.responses.items():
            ids = row[f"{name}_input_ids"]
            assert ids[-1] == tok.eos_token_id and tok.eos_token_id not in ids[:-1]   # exactly one EOS
            assert tok.decode(ids[:-1]) == text   # the response as it is, a leading space included
        assert row["label"] == pair.label if kto else "label" not in row
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", path, "-n", 1)
    assert code == 0 and "all checks passed" in stdout, stdout
    assert "[prompt:" in stdout and ("[completion:" if kto else "[rejected:") in stdout


def test_broken_records_are_rejected_with_file_and_line(cli, tmp_path, tokenizers_dir):
    good = real("ultrafeedback_strings.jsonl")[4]
    broken = [good, {"prompt": good["prompt"], "rejected": good["rejected"]},
              dict(good, chosen=good["rejected"]), {"id": 7, "prompt": "q", "completion": "c", "label": "yes"},
              {"prompt": "q", "completion": "c", "label": True}]   # KTO in a file of pairs
    src = write(tmp_path / "in.jsonl", broken)
    out = tmp_path / "t.arrow"
    code, _, err = cli("prep", "tokenize", "--task", "preference", "--input", src, "--output", out,
                       "--tokenizer-path", tokenizers_dir["bos_eos"], "--quiet")
    assert code == 0, err
    found = {r["where"].rsplit(":", 1)[1]: (r["reason"], r["detail"]) for r in lines(tmp_path / "t.arrow.rejected.jsonl")}
    assert found == {"2": ("missing-field", "no 'chosen'"),
                     "3": ("identical-responses", "chosen and rejected are the same text: nothing to prefer"),
                     "4": ("bad-label", "'label' holds str 'yes', not true or false"),
                     "5": ("other-kind", "a kto record in a file of pairs rows (set by its first record)")}
    assert len(read_arrow(out)) == 1
    stats = json.loads((tmp_path / "t.arrow.stats.json").read_text())
    assert stats["read"] == 5 and stats["kept"] == 1


def test_too_long_rows_lose_old_exchanges_or_are_dropped(cli, tmp_path, tokenizers_dir):
    src = write(tmp_path / "in.jsonl", real("hh_rlhf.jsonl"))
    out = tmp_path / "t.arrow"
    code, _, err = cli("prep", "tokenize", "--task", "preference", "--input", src, "--output", out,
                       "--tokenizer-path", tokenizers_dir["bos_eos"], "--max-length", 220, "--quiet")
    assert code == 0, err
    stats = json.loads((tmp_path / "t.arrow.stats.json").read_text())
    assert stats["truncated_prompt"] == 1 and stats["dropped"] == {"too-long": 1}   # the long rejected answer
    [row] = read_arrow(out)
    assert len(row["prompt_input_ids"]) + max(len(row["chosen_input_ids"]), len(row["rejected_input_ids"])) <= 220
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", tokenizers_dir["bos_eos"], "-n", 0)
    assert code == 0, stdout


def test_without_a_chat_template_the_prompt_follows_the_alpaca_format(cli, tmp_path, tokenizers_dir):
    from transformers import AutoTokenizer

    path = tokenizers_dir["no_bos"]
    out = tmp_path / "t.arrow"
    src = write(tmp_path / "in.jsonl", real("ultrafeedback_strings.jsonl")[4:])
    code, _, err = cli("prep", "tokenize", "--task", "preference", "--input", src, "--output", out,
                       "--tokenizer-path", path, "--prompt-format", "alpaca", "--quiet")
    assert code == 0, err
    tok = AutoTokenizer.from_pretrained(path)
    [row] = read_arrow(out)
    assert tok.decode(row["prompt_input_ids"]).endswith("### Response: ")
    assert tok.decode(row["chosen_input_ids"]) == "Arranging the characters in alphabetical order, we get: A, G, M, X." \
        + tok.eos_token


def test_inspect_fails_rows_that_break_the_eos_rule(cli, tmp_path, tokenizers_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    eos, prompt = tok.eos_token_id, tok("<s><|user|>hello\n<|assistant|>", add_special_tokens=False)["input_ids"]
    answer = tok("hello world", add_special_tokens=False)["input_ids"]
    out = tmp_path / "bad.arrow"
    with open(out, "wb") as fh:
        writer = PreferenceWriter(fh, "pairs", {"prompt_format": "chat", "max_length": 64})
        writer.add({"prompt_input_ids": prompt, "chosen_input_ids": answer, "rejected_input_ids": answer + [eos]})
        writer.add({"prompt_input_ids": prompt, "chosen_input_ids": answer + [eos, eos],
                    "rejected_input_ids": answer[:1] + [eos]})
        writer.close()
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", tokenizers_dir["bos_eos"], "-n", 0)
    assert code == 1
    assert "no-eos       1 rows FAIL" in stdout and "eos-inside   1 rows FAIL" in stdout


@pytest.mark.slow
def test_trl_collator_takes_the_rows_without_tokenizing_again(cli, tmp_path, tokenizers_dir):
    from transformers import AutoTokenizer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    eos = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"]).eos_token_id
    out = pipeline(cli, tmp_path, real("ultrafeedback_strings.jsonl"), tokenizers_dir["bos_eos"])
    rows = for_trl(read_arrow(out))
    assert rows.column_names == ["prompt_ids", "chosen_ids", "rejected_ids"]
    batch = DataCollatorForPreference(pad_token_id=0)(list(rows))
    n = len(rows)
    for i, row in enumerate(rows):
        for half, name in ((0, "chosen_ids"), (n, "rejected_ids")):
            mask = batch["completion_mask"][half + i]
            assert int(mask.sum()) == len(row[name])
            assert int(batch["input_ids"][half + i][int(mask.nonzero().max())]) == eos   # trained up to the EOS
