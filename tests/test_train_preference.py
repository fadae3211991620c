"""Preference tuning on CPU with a tiny Llama: DPO's reward margin grows, ORPO and KTO train and
log their metrics, a killed DPO run resumed under `accelerate launch` ends where an unbroken one
ends, and data or flags that do not fit stop with a message naming what is there.

The pairs are real UltraFeedback prompts and completions (tests/data/preference/), rendered with
the tiny tokenizer's chat template and cut short so that a step takes milliseconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from killed_run import killed_run
from train_runner_data import QUICK, one_thread, quiet_env  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
PAIRS_SOURCE = ROOT / "tests/data/preference/ultrafeedback_strings.jsonl"
PROMPT_TOKENS, ANSWER_TOKENS = 40, 24  # kept of each real text (the end of a prompt, the start of an answer)


def real_pairs() -> list[dict]:
    return [json.loads(line) for line in PAIRS_SOURCE.read_text(encoding="utf-8").splitlines() if line.strip()]


def encode_pair(tok, record: dict) -> tuple[list, list, list]:
    """(prompt, chosen, rejected) ids as `prep tokenize --task preference` lays them out: the prompt
    through the chat template, each completion ending in exactly one EOS."""
    prompt = tok.apply_chat_template([{"role": "user", "content": record["prompt"]}], add_generation_prompt=True,
                                     tokenize=True, return_dict=False)
    prompt = prompt[:1] + prompt[1:][-(PROMPT_TOKENS - 1):]   # BOS kept, the end of the question kept

    def answer(text):
        return tok(text, add_special_tokens=False)["input_ids"][:ANSWER_TOKENS - 1] + [tok.eos_token_id]

    return prompt, answer(record["chosen"]), answer(record["rejected"])


def write_table(path: Path, columns: dict) -> Path:
    """An Arrow IPC stream, what the tokenize stage writes and Dataset.from_file reads."""
    import pyarrow as pa

    arrays = {name: pa.array(values, pa.bool_() if name == "label" else
                             pa.string() if name == "id" else pa.list_(pa.int32()))
              for name, values in columns.items()}
    table = pa.table(arrays)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def pairs_file(path: Path, tok, layout: str = "pairs") -> Path:
    rows = [encode_pair(tok, r) for r in real_pairs()]
    ids = [f"uf-{i}" for i in range(len(rows))]
    if layout == "kto":  # each chosen completion desirable, each rejected one not
        return write_table(path, {"prompt_input_ids": [r[0] for r in rows for _ in (0, 1)],
                                  "completion_input_ids": [c for r in rows for c in (r[1], r[2])],
                                  "label": [flag for _ in rows for flag in (True, False)], "id": ids * 2})
    return write_table(path, {"prompt_input_ids": [r[0] for r in rows], "chosen_input_ids": [r[1] for r in rows],
                              "rejected_input_ids": [r[2] for r in rows], "id": ids})


@pytest.fixture
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def run(argv) -> dict:
    """`python -m train.hf_trainer ARGV` in this process; returns the run record."""
    from train import hf_trainer
    from train.lm.runner import parse_cli, run_parsed

    return run_parsed(parse_cli([str(a) for a in argv], hf_trainer.types(), hf_trainer.PROG))


def logged(out: Path, key: str) -> list[float]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [e[key] for e in history if key in e]


def base_args(model, data, out, steps: int) -> list:
    return ["--model_name_or_path", model, "--train_file", data, "--output_dir", out, *QUICK,
            "--max_steps", str(steps), "--per_device_train_batch_size", "5"]


# --- training ------------------------------------------------------------------------------

def test_dpo_lora_reward_margin_grows(tiny_model_dir, tok, tmp_path):
    from safetensors.torch import load_file

    data, out = pairs_file(tmp_path / "pairs.arrow", tok), tmp_path / "dpo"
    record = run([*base_args(tiny_model_dir, data, out, 30), "--method", "dpo", "--use_lora", "--lora_rank", "8",
                  "--lora_alpha", "16", "--learning_rate", "1e-2"])
    assert record["method"] == "lora" and record["options"]["method"] == "dpo" and record["global_step"] == 30
    margins, accuracies = logged(out, "rewards/margins"), logged(out, "rewards/accuracies")
    assert len(margins) == 30
    first, last = sum(margins[:5]) / 5, sum(margins[-5:]) / 5
    print(f"DPO reward margin, mean of the first and last 5 steps: {first:.4f} -> {last:.4f}")
    assert last > first + 0.3 and last > 2 * first  # chosen pulled ahead of rejected, by a wide gap
    assert sum(accuracies[-5:]) / 5 == 1.0          # every pair ranked right at the end
    saved = load_file(out / "adapter_model.safetensors")
    assert saved and all("lora_" in k for k in saved) and not (out / "ref").exists()   # no reference copy
    curves = json.loads((out / "curves.json").read_text())
    assert curves["diagnosis"]["preference"]["margin_grew"] is True
    assert len(curves["preference"]["train"]["margins"]) == 30 and (out / "curves.png").is_file()
    assert "method: dpo" in (out / "run_config.yaml").read_text()


def test_orpo_and_kto_train_and_log_their_metrics(tiny_model_dir, tok, tmp_path):
    pairs, rows = pairs_file(tmp_path / "pairs.arrow", tok), pairs_file(tmp_path / "kto.arrow", tok, "kto")
    orpo = tmp_path / "orpo"
    run([*base_args(tiny_model_dir, pairs, orpo, 3), "--method", "orpo", "--use_lora", "--beta", "0.2"])
    assert len(logged(orpo, "log_odds_ratio")) == 3 and len(logged(orpo, "nll_loss")) == 3
    assert len(logged(orpo, "rewards/accuracies")) == 3
    kto = tmp_path / "kto"
    record = run([*base_args(tiny_model_dir, rows, kto, 3), "--method", "kto", "--use_lora",
                  "--per_device_train_batch_size", "4", "--desirable_weight", "1.2"])
    assert record["train_examples"] == 10 and record["global_step"] == 3
    history = [e for e in json.loads((kto / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(history) == 3 and all("kl" in e and ("rewards/chosen" in e or "rewards/rejected" in e) for e in history)
    assert (kto / "adapter_model.safetensors").is_file()


def test_kto_takes_pairs_as_alternating_rows(tok, tmp_path):
    from train.preference.data import load_file

    ds = load_file(str(pairs_file(tmp_path / "pairs.arrow", tok)), "kto")
    assert ds.column_names == ["prompt_ids", "completion_ids", "label"] and len(ds) == 10
    assert ds["label"] == [True, False] * 5           # both labels in every batch KTO reads in order
    first = encode_pair(tok, real_pairs()[0])
    assert ds[0]["completion_ids"] == first[1] and ds[1]["completion_ids"] == first[2]


# --- resume --------------------------------------------------------------------------------

@pytest.mark.slow
def test_killed_dpo_run_resumed_under_accelerate_equals_an_unbroken_run(tiny_model_dir, tok, tmp_path):
    import torch
    from safetensors.torch import load_file

    from train import hf_trainer

    data = pairs_file(tmp_path / "pairs.arrow", tok)

    def args(out):
        return [str(a) for a in (*base_args(tiny_model_dir, data, out, 6), "--per_device_train_batch_size", "2",
                                 "--method", "dpo", "--loss_type", "sigmoid,sft", "--beta", "0.2", "--use_lora",
                                 "--save_strategy", "steps", "--save_steps", "2")]

    ref, out = tmp_path / "unbroken", tmp_path / "killed"
    assert hf_trainer.main(args(ref)) == 0
    assert killed_run(args(out), 4) == -9 and not (out / "checkpoint-4" / "tunesmith-complete.json").exists()
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "train.hf_trainer", *args(out)]
    done = subprocess.run(launch, cwd=ROOT, env=quiet_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-2'}" in done.stderr and "checkpoint-4 is incomplete" in done.stderr
    # The same losses step by step, and the same adapter weights (both runs on one CPU thread:
    # the tolerance only absorbs summation order, 1e-6 relative).
    assert logged(out, "loss") == pytest.approx(logged(ref, "loss"), rel=1e-5)
    assert logged(out, "rewards/margins") == pytest.approx(logged(ref, "rewards/margins"), rel=1e-4, abs=1e-6)
    expected, got = load_file(ref / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], rtol=1e-6, atol=1e-7) for k in expected)
    assert json.loads((out / "tunesmith-run.json").read_text())["resumed_from"] == str(out / "checkpoint-2")


# --- setup errors --------------------------------------------------------------------------

def test_sft_data_with_dpo_names_the_file_and_its_columns(tiny_model_dir, tmp_path, capsys):
    from train_runner_data import examples, write_arrow

    from train.hf_trainer import main

    sft = write_arrow(tmp_path / "sft.arrow", examples(4, 1))
    argv = [str(a) for a in base_args(tiny_model_dir, sft, tmp_path / "x", 1)]
    assert main([*argv, "--method", "dpo"]) == 2
    err = capsys.readouterr().err
    assert f"{sft}: --method dpo needs the columns prompt_input_ids, chosen_input_ids, rejected_input_ids" in err
    assert "the file has input_ids, labels, length (that is SFT data)" in err
    assert "prep tokenize --task preference" in err and "Traceback" not in err


def test_kto_rows_are_not_pairs(tiny_model_dir, tok, tmp_path, capsys):
    from train.hf_trainer import main

    rows = pairs_file(tmp_path / "kto.arrow", tok, "kto")
    assert main([str(a) for a in base_args(tiny_model_dir, rows, tmp_path / "x", 1)] + ["--method", "orpo"]) == 2
    assert "the file has prompt_input_ids, completion_input_ids, label, id" in capsys.readouterr().err


def test_bad_method_and_flags_for_another_method(tiny_model_dir, tok, tmp_path, capsys):
    from train.hf_trainer import main

    data = pairs_file(tmp_path / "pairs.arrow", tok)
    argv = [str(a) for a in base_args(tiny_model_dir, data, tmp_path / "x", 1)]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--method", "ppo"])
    assert stop.value.code == 2
    assert "--method: invalid choice: 'ppo' (choose from 'sft', 'dpo', 'orpo', 'kto')" in capsys.readouterr().err
    assert main([*argv, "--method", "dpo", "--loss_type", "sigmoid,kto"]) == 2
    err = capsys.readouterr().err
    assert "--loss_type sigmoid,kto: --method dpo takes sigmoid, hinge, ipo" in err
    assert main([*argv, "--method", "orpo", "--loss_type", "ipo"]) == 2
    assert "only --method dpo or kto has loss variants" in capsys.readouterr().err
    assert main([*argv, "--beta", "0.3"]) == 2
    assert "--beta applies to --method dpo, orpo or kto (this run: --method sft)" in capsys.readouterr().err
    assert not (tmp_path / "x" / "run_config.yaml").exists()     # stopped before writing anything


def test_config_file_carries_the_preference_flags(tmp_path):
    from train import hf_trainer, run_config
    from train.lm.args import RunArguments
    from train.lm.runner import parse_cli

    recipe = tmp_path / "dpo.yaml"
    recipe.write_text("model_name_or_path: m\noutput_dir: out\nmethod: dpo\nloss_type: [sigmoid, sft]\n"
                      "beta: 0.05\n", encoding="utf-8")
    argv = run_config.expand(["--config", str(recipe), "--beta", "0.2"], hf_trainer.types(), hf_trainer.PROG)
    run_args = next(p for p in parse_cli(argv, hf_trainer.types(), hf_trainer.PROG) if isinstance(p, RunArguments))
    assert (run_args.method, run_args.loss_type, run_args.beta) == ("dpo", "sigmoid,sft", 0.2)  # the command line wins
