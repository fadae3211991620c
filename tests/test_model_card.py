"""`tunesmith export card`: the card of a real (tiny) run whose data went through real prep stages
on a real sample (Dolly, tests/data/layouts), with counts read back from each stage's stats."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

DOLLY = Path(__file__).parent / "data" / "layouts" / "dolly.jsonl"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """clean -> split -> tokenize (train, val) on the Dolly sample, then 4 LoRA steps with eval."""
    from tiny import make_llama, make_tokenizer
    from train_runner_data import QUICK

    from train import hf_trainer
    from train.cli import main
    from train.lm.runner import parse_cli, run_parsed

    root = tmp_path_factory.mktemp("card")
    tokenizer = make_tokenizer(root / "tok")
    make_llama(root / "base", tokenizer)
    work = root / "work"
    raw = work / "raw.jsonl"
    work.mkdir()
    # One copy of a record and one empty answer: clean and split have something to count.
    lines = DOLLY.read_text(encoding="utf-8").splitlines()
    empty = json.dumps({**json.loads(lines[0]), "response": ""})
    raw.write_text("\n".join(lines + [empty]) + "\n", encoding="utf-8")
    steps = [["prep", "clean", "--input", raw, "--output", work / "clean.jsonl", "--quiet"],
             ["prep", "split", "--input", work / "clean.jsonl", "--train-output", work / "train.jsonl",
              "--val-output", work / "val.jsonl", "--split_ratio", "0.7,0.3", "--quiet"]]
    steps += [["prep", "tokenize", "--input", work / f"{name}.jsonl", "--output", work / f"{name}.arrow",
               "--tokenizer_path", root / "tok", "--max_length", "128", "--quiet"] for name in ("train", "val")]
    for argv in steps:
        assert main([str(a) for a in argv]) == 0, argv
    out = root / "run"
    argv = ["--model_name_or_path", root / "base", "--train_file", work / "train.arrow", "--eval_file",
            work / "val.arrow", "--output_dir", out, "--max_steps", "4", "--use_lora", "--lora_rank", "4",
            "--eval_strategy", "steps", "--eval_steps", "2", *QUICK]
    run_parsed(parse_cli([str(a) for a in argv], hf_trainer.types(), hf_trainer.PROG), ())
    return {"run": out, "work": work}


def stats(work: Path, name: str) -> dict:
    return json.loads((work / f"{name}.stats.json").read_text())


def table_row(card: str, stage: str) -> list[str]:
    rows = [line for line in card.splitlines() if line.startswith(f"| {stage} |")]
    assert rows, f"no {stage} row in the card"
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_a_run_ends_with_its_own_card_not_the_library_template(run_dir):
    # Before any `export card`: PEFT's save_pretrained writes a template README.md into the run
    # folder; the runner replaces it with the card made from the run's record.
    card = (run_dir["run"] / "README.md").read_text()
    assert "[More Information Needed]" not in card and "Model Card for Model ID" not in card
    assert "- method: lora" in card and "| tokenize |" in card
    assert "- steps trained: 4" in card


def test_card_counts_method_and_diagnosis_come_from_the_run(run_dir, cli):
    from train.export import provenance

    code, out, err = cli("export", "card", "--run", run_dir["run"])
    assert code == 0, err
    card = (run_dir["run"] / "README.md").read_text()
    work = run_dir["work"]
    clean, split, tok = stats(work, "clean.jsonl"), stats(work, "train.jsonl"), stats(work, "train.arrow")
    assert sum(clean["dropped"].values()) >= 1                        # the empty answer
    row = table_row(card, "clean")
    assert row[2:4] == [str(clean["read"]), str(clean["kept"])]
    assert all(f"{reason} {n}" in row[4] for reason, n in clean["dropped"].items())
    assert table_row(card, "split")[1] == (f"train.jsonl ({split['counts']['train']}), "
                                           f"val.jsonl ({split['counts']['val']})")
    assert table_row(card, "tokenize")[3] == f"{tok['kept']} ({tok['tokens_total']} tokens)"
    # raw sources first: clean before split before tokenize
    assert card.index("| clean |") < card.index("| split |") < card.index("| tokenize |")
    assert "From the same stages as above up to split" in card         # val's shared history listed once
    assert "- method: lora" in card and "- lora_rank: 4" in card and "- max_steps: 4" in card
    assert "- quant_type" not in card                                   # a 16-bit base
    assert provenance.diagnosis(run_dir["run"])["message"] in card
    assert "base_model: " + str(run_dir["run"].parent / "base") in card


def test_eval_results_and_changed_inputs(run_dir, cli, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir["run"], run)
    results = {"results": {"copa_local": {"acc,none": 0.55, "acc_stderr,none": 0.05, "alias": "copa"}}}
    (run / "eval_results.json").write_text(json.dumps(results))
    work = run_dir["work"]
    code, _, err = cli("export", "card", "--run", run, "--output", tmp_path / "card.md")
    assert code == 0, err
    card = (tmp_path / "card.md").read_text()
    assert "| copa_local | acc,none | 0.55 |" in card and "alias" not in card
    assert "changed since" not in card
    clean = ["prep", "clean", "--input", work / "raw.jsonl", "--output", work / "clean.jsonl", "--quiet"]
    code, _, err = cli(*clean, "--min-words", "40")            # clean rerun after split read its output
    assert code == 0, err
    try:
        code, _, err = cli("export", "card", "--run", run, "--output", tmp_path / "card2.md")
        assert code == 0, err
        assert "clean.jsonl (input changed since)" in (tmp_path / "card2.md").read_text()
    finally:
        assert cli(*clean)[0] == 0                                 # same options, same bytes as before


def test_card_errors(cli, tmp_path, run_dir):
    code, _, err = cli("export", "card", "--run", tmp_path)
    assert code == 2 and "no run_config.yaml" in err
    (tmp_path / "bad.json").write_text("{}")
    code, _, err = cli("export", "card", "--run", run_dir["run"], "--eval", tmp_path / "bad.json",
                       "--output", tmp_path / "c.md")
    assert code == 2 and "'results'" in err and not (tmp_path / "c.md").exists()
