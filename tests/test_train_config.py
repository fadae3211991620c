"""--config run.yaml for the runner, run_config.yaml in the output, and the DoRA / rsLoRA switches."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from train_runner_data import QUICK, data_dir, one_thread  # noqa: F401

from prep.core.errors import StageError

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "lora.yaml"


def parsed(argv, module="hf_trainer"):
    """(argv after --config expansion, the parsed dataclasses) as the entry point makes them."""
    import importlib

    from train import run_config
    from train.lm.runner import parse_cli

    entry = importlib.import_module(f"train.{module}")
    expanded = run_config.expand([str(a) for a in argv], entry.types(), entry.PROG)
    return expanded, parse_cli(expanded, entry.types(), entry.PROG, getattr(entry, "LEADING", ()))


def pick(items, name):
    return next(p for p in items if hasattr(p, name))


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_types_overrides_and_old_spellings(tmp_path, capsys):
    config = write_yaml(tmp_path / "run.yaml", "\n".join([
        "model_name_or_path: some/model", "output_dir: out",
        "use_lora: true", "lora_rank: 16", "lora_alpha: 32",
        "lora_target_modules: [q_proj, v_proj]",   # a list for a comma flag
        "learning_rate: 2e-4",                     # YAML 1.1 reads this as a string
        "evaluation_strategy: steps",              # the guide's old spelling
        "eval_steps: 5", "bits: 16", "lr_scheduler_kwargs: {min_lr: 1.0e-6}",
        "debug: [underflow_overflow]", "tokenizer_name_or_path: null", ""]))
    argv, items = parsed(["--config", config, "--lora_rank", "8", "--eval_steps=7"])
    lora_args, training = pick(items, "lora_rank"), pick(items, "learning_rate")
    assert lora_args.use_lora is True and lora_args.lora_alpha == 32.0
    assert lora_args.lora_rank == 8 and training.eval_steps == 7        # the command line wins
    assert lora_args.lora_target_modules == "q_proj,v_proj"
    assert training.learning_rate == 2e-4 and isinstance(training.learning_rate, float)
    assert training.eval_strategy.value == "steps"
    assert training.lr_scheduler_kwargs == {"min_lr": 1e-6}
    assert [d.value for d in training.debug] == ["underflow_overflow"]
    assert pick(items, "tokenizer_name_or_path").tokenizer_name_or_path is None
    assert "--evaluation_strategy is now --eval_strategy" in capsys.readouterr().err
    assert "--config" not in argv


@pytest.mark.parametrize("text, message", [
    ("learning_rte: 0.1\n", "unknown key 'learning_rte': did you mean learning_rate?"),
    ("lora_rnk: 8\n", "did you mean lora_rank?"),
    ("zzzz: 1\n", "unknown key 'zzzz'"),
    ("- a\n- b\n", "expected a mapping"),
    ("a: [1\n", "is not valid YAML"),
])
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    with pytest.raises(StageError, match=message.replace("?", r"\?").replace("[", r"\[")):
        parsed(["--config", write_yaml(tmp_path / "bad.yaml", text), "--output_dir", "x"])


def test_missing_file_and_wrong_values_stop_with_one_line(tmp_path, capsys):
    from train import hf_trainer

    assert hf_trainer.main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    config = write_yaml(tmp_path / "run.yaml", "model_name_or_path: m\nbits: 5\n")
    with pytest.raises(SystemExit):  # the flag's own check: bits is one of 4, 8, 16, 32
        parsed(["--config", config, "--output_dir", "x"])
    assert "invalid choice" in capsys.readouterr().err


def test_recipe_parses_for_both_entry_points(capsys):
    _, items = parsed(["--config", RECIPE])
    lora_args, training = pick(items, "lora_rank"), pick(items, "learning_rate")
    assert (lora_args.lora_rank, lora_args.lora_alpha, training.learning_rate) == (128, 256, 5e-5)
    assert lora_args.lora_target_modules.split(",")[-2:] == ["embed_tokens", "lm_head"]
    assert training.gradient_accumulation_steps == 64 and training.activation_checkpointing
    # train.qlora: the file's rank beats qlora.py's default (64); its other defaults stay.
    _, items = parsed(["--config", RECIPE, "--bits", "16"], module="qlora")
    assert pick(items, "lora_rank").lora_rank == 128 and pick(items, "bits").bits == 16
    assert pick(items, "lora_dropout").lora_dropout == 0.0


@pytest.mark.slow
def test_runner_with_recipe_writes_its_effective_config(tiny_model_dir, tmp_path, capsys):
    from train import hf_trainer

    data, out = data_dir(tmp_path), tmp_path / "run"
    overrides = ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--eval_file",
                 data["eval"], "--output_dir", out, "--max_steps", "2", "--lora_rank", "8",
                 "--gradient_accumulation_steps", "1", "--dataloader_num_workers", "0", "--bf16", "false",
                 "--eval_steps", "2", "--save_steps", "2", *QUICK]
    assert hf_trainer.main(["--config", str(RECIPE), *map(str, overrides)]) == 0
    flags = yaml.safe_load((out / "run_config.yaml").read_text())
    assert flags["lora_rank"] == 8 and flags["lora_alpha"] == 256          # command line, then file
    assert flags["eval_strategy"] == "steps" and flags["output_dir"] == str(out)
    assert flags["max_steps"] == 2 and flags["use_dora"] is False
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and "lm_head" in adapter["target_modules"]
    # The written file reads back to the same flags.
    _, items = parsed(["--config", out / "run_config.yaml"])
    from train import run_config

    assert run_config.effective(*items) == flags


def tiny_peft(tiny_model_dir, **flags):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from train.lm import lora
    from train.lm.args import LoraArguments

    args = LoraArguments(use_lora=True, lora_rank=4, lora_alpha=8, lora_dropout=0.0, **flags)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return get_peft_model(model, lora.peft_config(args, ["q_proj", "v_proj", "lm_head"]))


def test_dora_and_rslora_reach_the_saved_adapter(tiny_model_dir, tmp_path):
    from train.lm import lora

    model = tiny_peft(tiny_model_dir, use_dora=True, use_rslora=True)
    model.save_pretrained(tmp_path / "adapter")
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert saved["use_dora"] is True and saved["use_rslora"] is True
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == pytest.approx(8 / math.sqrt(4)) == lora.scaling(8, 4, rslora=True)
    assert tiny_peft(tiny_model_dir).base_model.model.model.layers[0].self_attn.q_proj.scaling["default"] == 2.0


@pytest.mark.parametrize("targets", ["q_proj,v_proj,lm_head", "all-linear", "q_proj,embed_tokens"])
def test_estimate_counts_dora_as_peft_does(tiny_model_dir, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from train.tools.estimate import estimate

    config = json.loads((tiny_model_dir / "config.json").read_text())
    names = targets if targets == "all-linear" else targets.split(",")
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                LoraConfig(r=8, target_modules=names, use_dora=True))
    trainable, _ = peft_model.get_nb_trainable_parameters()
    dora = estimate(config, "lora", 8, 1, lora_rank=8, lora_targets=targets, use_dora=True)
    plain = estimate(config, "lora", 8, 1, lora_rank=8, lora_targets=targets)
    assert dora["trainable"] == trainable > plain["trainable"]


def test_estimate_dora_activations_by_hand():
    from test_estimate import LLAMA

    from train.tools.estimate import estimate

    def activations(**flags):
        return estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj", **flags)["bytes"]

    # Per token and layer, bf16: q_proj's base output and adapter output (64 each, 2 bytes) and
    # v_proj's (32 each): (2 + 2) * (64 + 32); two layers, 256 tokens.
    extra = activations(use_dora=True)["activations"] - activations()["activations"]
    assert extra == 256 * 2 * (2 + 2) * (64 + 32)
    assert activations(use_rslora=True) == activations()  # rsLoRA changes the scaling only


@pytest.mark.slow
def test_runner_passes_dora_to_peft(tiny_model_dir, tmp_path):
    from train import hf_trainer

    data, out = data_dir(tmp_path), tmp_path / "dora"
    argv = ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", out,
            "--max_steps", "1", "--use_lora", "--use_dora", "--use_rslora", "--lora_target_modules",
            "q_proj", *QUICK]
    assert hf_trainer.main([str(a) for a in argv]) == 0
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["use_dora"] is True and saved["use_rslora"] is True
