"""Flags of the training entry points: old spellings, precision checks, qlora.py's defaults."""
from __future__ import annotations

import importlib.util

import pytest

from train.lm import legacy_flags as aliases

CPU = {"cuda": False, "accelerator": False, "gpu": None, "tf32": False}


def test_old_spellings_map_with_one_warning_each():
    argv = ["--evaluation_strategy", "steps", "--no_cuda", "--warmup_ratio", "0.1", "--gradient_checkpointing",
            "true", "--use_mps_device", "--source_max_length=64", "--report_to", "wandb", "--tf32", "true",
            "--fsdp_transformer_layer_cls_to_wrap", "LlamaDecoderLayer", "--adafactor"]
    new, notes = aliases.rewrite(argv, CPU)
    assert new[:2] == ["--eval_strategy", "steps"] and "--use_cpu" in new
    assert new[new.index("--warmup_steps") + 1] == "0.1"
    assert new[new.index("--activation_checkpointing") + 1] == "true"
    assert new[new.index("--source_max_len") + 1] == "64"
    wandb = importlib.util.find_spec("wandb") is not None
    assert new[new.index("--report_to") + 1] == ("wandb" if wandb else "none")
    assert new[new.index("--optim") + 1] == "adafactor"
    assert "--tf32" not in new and "--use_mps_device" not in new
    assert '"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]' in new[new.index("--fsdp_config") + 1]
    assert len(notes) == 10 - wandb and all("\n" not in n for n in notes)
    # an explicit --warmup_steps above 0 wins over the ratio, as in transformers 4
    new, _ = aliases.rewrite(["--warmup_steps", "8", "--warmup_ratio", "0.03"], CPU)
    assert new[new.index("--warmup_steps") + 1] == "8" and "--warmup_ratio" not in new


def test_precision_flags_fit_the_machine():
    from prep.core.errors import StageError

    with pytest.raises(StageError, match="--fp16 mixed precision needs a CUDA GPU"):
        aliases.rewrite(["--fp16", "true"], CPU)
    assert aliases.rewrite(["--fp16", "true", "--fp16", "false"], CPU)[0][-2:] == ["--use_cpu", "true"]
    old_gpu = {"cuda": True, "accelerator": True, "gpu": (False, "Tesla T4"), "tf32": False}
    with pytest.raises(StageError, match=r"this GPU \(Tesla T4\) has no bfloat16 support"):
        aliases.rewrite(["--bf16"], old_gpu)
    assert "--use_cpu" not in aliases.rewrite(["--fp16"], old_gpu)[0]


def test_qlora_entry_keeps_qlora_py_defaults_and_spellings(capsys):
    from train import qlora
    from train.lm.runner import parse_cli

    def parsed(*argv):
        found = parse_cli(["--model_name_or_path", "m", "--dataset", "d.jsonl", *argv], qlora.types(),
                          qlora.PROG, qlora.LEADING)
        return {k: v for p in found for k, v in vars(p).items()}

    flags = parsed()
    assert (flags["lora_rank"], flags["lora_alpha"], flags["lora_dropout"], flags["bits"]) == (64, 16, 0.0, 4)
    assert flags["optim"] == "paged_adamw_32bit" and flags["lora_target_modules"] == "all-linear"
    assert flags["activation_checkpointing"] and flags["group_by_length"] and flags["warmup_steps"] == 0.03
    assert flags["max_steps"] == -1                      # qlora.py's 10000 would override the epochs
    flags = parsed("--lora_r", "8", "--gradient_checkpointing", "False", "--dataset-format", "alpaca",
                   "--quant_type", "fp4", "--double_quant", "False", "--bits", "8")
    assert (flags["lora_rank"], flags["activation_checkpointing"], flags["dataset_format"]) == (8, False, "alpaca")
    assert (flags["quant_type"], flags["double_quant"], flags["bits"]) == ("fp4", False, 8)
    assert qlora.main(["--model_name_or_path", "m", "--dataset", "d", "--do_mmlu_eval", "True"]) == 2
    assert "MMLU evaluation is not supported here" in capsys.readouterr().err
