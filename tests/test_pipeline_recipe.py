"""`tunesmith pipeline recipe.yaml`: dry-run of the recipes/ examples, make-like skipping on the
committed sample data (data/raw), validation before anything runs, and a failing step stopping."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
# A machine that honours every precision flag, so that checking flag names does not depend on this one.
ANY_GPU = {"cuda": True, "accelerator": True, "gpu": (True, "test"), "tf32": True}


def command_lines(out: str) -> list[list[str]]:
    return [shlex.split(line) for line in out.splitlines() if line.strip() and not line.startswith("#")]


def without_env(tokens: list[str]) -> list[str]:
    if tokens[0] != "env":
        return tokens
    rest = tokens[1:]
    while rest and "=" in rest[0]:
        rest = rest[1:]
    return rest


def train_namespace(tokens: list[str]):
    """The runner's parse of an `accelerate launch ... -m MODULE FLAGS` line; unknown flags fail."""
    from train import hf_trainer, qlora
    from train.lm.args import parser_for
    from train.lm.legacy_flags import rewrite

    module = tokens[tokens.index("-m") + 1]
    flags = tokens[tokens.index("-m") + 2:]
    types = (hf_trainer if module == "train.hf_trainer" else qlora).types()
    namespace, unknown = parser_for(types, module).parse_known_args(rewrite(flags, ANY_GPU)[0])
    assert unknown == [], f"{module}: unknown flags {unknown}"
    return module, namespace


def check_dry_run(cli, name: str, tmp_path: Path, *extra: str) -> list[list[str]]:
    recipe = RECIPES / name
    code, out, err = cli("pipeline", recipe, "--dry-run", "--force", "--var", f"WORK={tmp_path}/work", *extra)
    assert code == 0, err
    lines = command_lines(out)
    steps = yaml.safe_load(recipe.read_text())["steps"]
    assert len(lines) == len(steps)
    from train.cli import build_parser

    for tokens, step in zip(lines, steps):
        tokens = without_env(tokens)
        if step["run"].startswith("train"):
            assert tokens[:2] == ["accelerate", "launch"]
            module, namespace = train_namespace(tokens)
            assert module == ("train.qlora" if step["run"] == "train qlora" else "train.hf_trainer")
            assert namespace.output_dir
        else:
            assert tokens[0] == "tunesmith" and tokens[1:1 + len(step["run"].split())] == step["run"].split()
            build_parser().parse_args(tokens[1:])  # every flag is one the stage takes (SystemExit if not)
    assert not (tmp_path / "work").exists()  # a dry run writes nothing
    return lines


@pytest.mark.parametrize("name", ["pipeline_full.yaml", "pipeline_qlora.yaml"])
def test_dry_run_of_the_examples(cli, tmp_path, name):
    check_dry_run(cli, name, tmp_path)


def _recipe_lines(script: str, stub: str, env: dict) -> list[list[str]]:
    """The commands a shell recipe runs, each printed (NUL-separated tokens) by a stub function."""
    shell = f"{stub}() {{ printf '%s\\0' {stub} \"$@\"; printf '\\n'; }}; export -f {stub}; bash {script}"
    done = subprocess.run(["bash", "-c", shell], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, check=True)
    return [line.rstrip("\0").split("\0") for line in done.stdout.splitlines() if line.startswith(stub)]


def test_lora_pipeline_runs_what_prep_sh_and_lora_sh_run(cli, tmp_path):
    lines = check_dry_run(cli, "pipeline_lora.yaml", tmp_path)
    from train.cli import build_parser

    work = f"{tmp_path}/work"
    shell = _recipe_lines("recipes/prep.sh", "tunesmith", {"WORK": work, "QUIET": ""})
    ours = [t for t in lines if t[0] == "tunesmith"]
    assert len(ours) == len(shell) == 14 - 1
    for mine, theirs in zip(ours, shell):
        assert vars(build_parser().parse_args(mine[1:])) == vars(build_parser().parse_args(theirs[1:]))
    lora = _recipe_lines("recipes/lora.sh", "accelerate", {"TRAIN": f"{work}/train.arrow", "EVAL": f"{work}/val.arrow"})
    assert len(lora) == 1
    assert train_namespace(without_env(lines[-1])) == train_namespace(lora[0])


# Needs `prep tokenize --task preference` and the runner's --method/--loss_type/--beta flags
# (preference tuning, issue 14 part 2): it fails where those are missing.
def test_dry_run_of_the_dpo_example(cli, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("")  # a dry run only checks that it exists
    lines = check_dry_run(cli, "pipeline_dpo.yaml", tmp_path, "--var", f"PREFS={pairs}")
    assert [t for t in lines[4] if t == "--task"] and "preference" in lines[4]
    _, namespace = train_namespace(lines[-1])
    assert (namespace.method, namespace.beta) == ("dpo", 0.1)


RECIPE = """
vars: {WORK: work, TOK: tok, MINW: "3", RAW: data/raw}
steps:
  - {name: extract, run: prep extract jsonl, args: {input: "${RAW}/instructions.jsonl", output: "${WORK}/ex.jsonl"}}
  - {name: clean, run: prep clean, args: {input: "${WORK}/ex.jsonl", output: "${WORK}/clean.jsonl", min-words: "${MINW}"}}
  - {name: split, run: prep split, args: {input: "${WORK}/clean.jsonl", split_ratio: [0.8, 0.2], seed: 1,
     train-output: "${WORK}/train.jsonl", val-output: "${WORK}/val.jsonl"}}
  - {name: tokenize, run: prep tokenize, args: {input-file: "${WORK}/train.jsonl", output-file: "${WORK}/train.arrow",
     tokenizer-path: "${TOK}", max-length: 512, quiet: true}}
"""
OUTPUTS = ("ex.jsonl", "clean.jsonl", "train.jsonl", "train.arrow")


def _mtimes(work: Path) -> dict:
    return {name: (work / name).stat().st_mtime_ns for name in OUTPUTS}


def test_a_rerun_skips_what_is_up_to_date(cli, tmp_path, tokenizers_dir):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    work = tmp_path / "work"
    common = ("--var", f"WORK={work}", "--var", f"TOK={tokenizers_dir['bos_eos']}", "--var", f"RAW={ROOT}/data/raw")
    code, _, err = cli("pipeline", recipe, *common)
    assert code == 0, err
    first = _mtimes(work)
    assert json.loads((work / "clean.jsonl.stats.json").read_text())["options"]["min_words"] == 3

    code, out, err = cli("pipeline", recipe, *common)
    assert code == 0 and err.count("up to date, skipped") == 4 and "+ tunesmith" not in err
    assert _mtimes(work) == first

    code, out, _ = cli("pipeline", recipe, *common, "--var", "MINW=40", "--dry-run")
    assert "min_words 3 -> 40" in out and len(command_lines(out)) == 3
    code, _, err = cli("pipeline", recipe, *common, "--var", "MINW=40")
    assert code == 0, err
    second = _mtimes(work)
    assert second["ex.jsonl"] == first["ex.jsonl"]
    assert all(second[name] > first[name] for name in OUTPUTS[1:])
    kept = json.loads((work / "clean.jsonl.stats.json").read_text())
    assert kept["options"]["min_words"] == 40 and kept["dropped"]  # the new option took effect

    code, _, err = cli("pipeline", recipe, *common, "--var", "MINW=40", "--from", "split")
    third = _mtimes(work)
    assert code == 0 and err.count("up to date, skipped") == 2
    assert [third[n] > second[n] for n in OUTPUTS] == [False, False, True, True]


def test_the_whole_file_is_checked_before_anything_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = {"name": "extract", "run": "prep extract jsonl",
            "args": {"input": str(ROOT / "data/raw/instructions.jsonl"), "output": "${WORK}/ex.jsonl"}}
    cases = [
        ({"name": "clean", "run": "prep clen", "args": {}}, "did you mean 'clean'"),
        ({"name": "clean", "run": "prep clean", "args": {"input": "${WORK}/ex.jsonl", "output": "c.jsonl",
                                                         "min-wrds": 3}}, "did you mean 'min-words'"),
        ({"name": "clean", "run": "prep clean", "args": {"input": "${WORK}/missing.jsonl", "output": "c.jsonl"}},
         "step 'clean': input out/missing.jsonl: no such file, and no earlier step writes it"),
        ({"name": "clean", "run": "prep clean", "args": {"input": "${NOPE}/x.jsonl", "output": "c.jsonl"}},
         "${NOPE} is not defined"),
    ]
    monkeypatch.setenv("WORK", "out")  # the environment wins over the file's vars
    for bad, message in cases:
        (tmp_path / "r.yaml").write_text(yaml.safe_dump({"vars": {"WORK": "elsewhere"}, "steps": [good, bad]}))
        code, _, err = cli("pipeline", "r.yaml")
        assert code == 2 and message in err, err
        assert not (tmp_path / "out").exists() and not (tmp_path / "elsewhere").exists()


def test_a_failing_step_stops_the_pipeline(cli, tmp_path):
    steps = [  # a CSV export read as JSONL: every line is broken, so extract keeps nothing (exit 2)
        {"name": "extract", "run": "prep extract jsonl",
         "args": {"input": str(ROOT / "data/raw/articles.csv"), "output": f"{tmp_path}/ex.jsonl", "quiet": True}},
        {"name": "clean", "run": "prep clean", "args": {"input": f"{tmp_path}/ex.jsonl", "output": f"{tmp_path}/c.jsonl"}},
    ]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"steps": steps}))
    code, _, err = cli("pipeline", tmp_path / "r.yaml")
    assert code == 2
    assert "step 'extract' failed (exit status 2); not run: clean" in err
    assert not (tmp_path / "c.jsonl").exists()
    code, _, err = cli("pipeline", tmp_path / "r.yaml")  # a step that kept nothing is not up to date
    assert code == 2 and "extract: kept 0 records" in err and not (tmp_path / "c.jsonl").exists()


def test_a_finished_training_run_is_skipped_until_its_flags_change(cli, tmp_path, tiny_model_dir):
    """The run folder as the runner leaves it: run_config.yaml by its own writer, a finished record."""
    from train import hf_trainer, run_config
    from train.lm.args import parser_for
    from train.lm.runner import parse_cli, settle

    out, data = tmp_path / "run", tmp_path / "train.arrow"
    data.write_bytes(b"")
    args = {"model_name_or_path": str(tiny_model_dir), "train_file": str(data), "output_dir": str(out),
            "max_steps": 2, "learning_rate": 1.0e-3, "use_lora": True, "report_to": "none"}
    step = {"name": "train", "run": "train", "args": args}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"steps": [step]}))
    argv = run_config.to_argv(args, parser_for(hf_trainer.types(), "t"))
    parsed = parse_cli(argv, hf_trainer.types(), "t")  # what the runner does before it writes the file
    settle(*(next(p for p in parsed if type(p).__name__ == name) for name in
             ("ModelArguments", "DataArguments", "QuantArguments", "TrainingArguments")))
    run_config.write(str(out), run_config.effective(*parsed), argv)
    (out / "tunesmith-run.json").write_text(json.dumps({"status": "finished"}))

    code, dry, _ = cli("pipeline", tmp_path / "r.yaml", "--dry-run")
    assert code == 0 and "up to date" in dry and not command_lines(dry)
    args["learning_rate"] = 2.0e-3
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"steps": [step]}))
    code, dry, _ = cli("pipeline", tmp_path / "r.yaml", "--dry-run")
    assert "learning_rate 0.001 -> 0.002" in dry
    assert command_lines(dry)[0][-1] == "--overwrite_output_dir"  # else it would resume at the end
