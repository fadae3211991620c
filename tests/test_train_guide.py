"""The guide's three command lines, with only the paths changed, and the recipes that carry them.

The flag lists below are the guide's ("The Novice's LLM Training Guide"): its full fine-tune
and LoRA scripts (PygmalionAI training-code, training/hf_trainer.py) and its QLoRA script
(artidoro/qlora, qlora.py), from the first flag to the last, variables kept.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from train_runner_data import data_dir, one_thread, write_jsonl  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

GUIDE_FULL = """
    --model_name_or_path "$MODEL_NAME" --train_file "$TRAIN_DATASET" --eval_file "$EVAL_DATASET"
    --output_dir "$OUTPUT_DIR" --report_to "wandb" --do_train --do_eval --ddp_find_unused_parameters false
    --optim 'adamw_torch_fused' --seed 42 --data_seed 42 --logging_first_step true --logging_steps 1
    --dataloader_num_workers 1 --per_device_train_batch_size "$BSZ" --per_device_eval_batch_size "$BSZ"
    --fp16 true --evaluation_strategy "steps" --eval_steps 128 --save_strategy "steps" --save_steps 128
    --save_total_limit 2 --gradient_accumulation_steps 8 --learning_rate 1.0e-5 --lr_scheduler_type "cosine"
    --warmup_steps 64 --num_train_epochs 1
"""
GUIDE_LORA = """
    --model_name_or_path "$MODEL_NAME" --train_file "$TRAIN_DATASET" --eval_file "$EVAL_DATASET"
    --output_dir "$OUTPUT_DIR" --optim "adamw_torch_fused" --report_to "wandb" --ddp_find_unused_parameters false
    --bf16 true --do_train --do_eval --evaluation_strategy "steps" --eval_steps 80 --save_strategy "steps"
    --save_steps 80 --save_total_limit 2 --per_device_train_batch_size "$TRAIN_BSZ"
    --per_device_eval_batch_size "$EVAL_BSZ" --gradient_accumulation_steps 64 --learning_rate 5.0e-5
    --lr_scheduler_type "constant_with_warmup" --warmup_steps 8 --num_train_epochs 1 --seed 42 --data_seed 42
    --logging_first_step true --logging_steps 1 --dataloader_num_workers 1 --model_load_delay_per_rank 0
    --use_lora --lora_rank 128 --lora_alpha 256
    --lora_target_modules 'up_proj,down_proj,q_proj,v_proj,k_proj,o_proj,embed_tokens,lm_head'
    --gradient_checkpointing true --use_xformers
"""
GUIDE_QLORA = """
    --model_name_or_path huggyllamma/llama-33b --output_dir ./metharme-33b --dataset /path/to/dataset/directory
    --dataset-format input-output --train_on_source True --learning_rate 0.000075 --warmup_steps 0
    --num_train_epochs 1 --do_train True --do_eval True --do_mmlu_eval False --bf16 True --bits 16
    --source_max_len 2500 --target_max_len 2500 --per_device_train_batch_size 1 --gradient_accumulation_steps 1
    --logging_first_step true --logging_steps 1 --save_steps 100 --eval_steps 10 --save_strategy steps
    --save_total_limit 2 --data_seed 41 --per_device_eval_batch_size 1 --fp16_full_eval
    --evaluation_strategy steps --max_memory_MB 48000 --optim paged_adamw_32bit --report_to "wandb"
"""
# The recipes name the guide's path variables more briefly.
RECIPE_NAMES = {"MODEL_NAME": "MODEL", "TRAIN_DATASET": "TRAIN", "EVAL_DATASET": "EVAL", "OUTPUT_DIR": "OUT"}


def guide_argv(text: str, values: dict) -> list[str]:
    """The guide's flags with each $VARIABLE (and the QLoRA script's literal paths) replaced."""
    literal = {"huggyllamma/llama-33b": "$MODEL", "./metharme-33b": "$OUT", "/path/to/dataset/directory": "$DATA"}
    argv = [literal.get(a, a) for a in shlex.split(text)]
    return [values[RECIPE_NAMES.get(a[1:], a[1:])] if a.startswith("$") else a for a in argv]


def recipe_argv(name: str) -> list[str]:
    """The flags a recipe passes to the runner (between `-m train.X` and "$@")."""
    text = (ROOT / "recipes" / name).read_text().replace("\\\n", " ")
    command = re.search(r"-m train\.\w+ (.*?)\"\$@\"", text, re.S).group(1)
    return shlex.split(command)


@pytest.mark.parametrize("script,guide", [("full.sh", GUIDE_FULL), ("lora.sh", GUIDE_LORA),
                                          ("qlora.sh", GUIDE_QLORA)])
def test_recipes_pass_the_guides_flags(script, guide):
    subprocess.run(["bash", "-n", str(ROOT / "recipes" / script)], check=True)
    names = ("MODEL", "TRAIN", "EVAL", "OUT", "BSZ", "TRAIN_BSZ", "EVAL_BSZ", "DATA")
    assert recipe_argv(script) == guide_argv(guide, {n: f"${n}" for n in names})


def run_guide(module: str, argv: list[str]) -> int:
    import importlib

    return importlib.import_module(module).main(argv)


def test_guide_command_lines_run_with_only_paths_changed(tiny_model_dir, tmp_path, capsys):
    import json

    data = data_dir(tmp_path)
    paths = {"MODEL": str(tiny_model_dir), "TRAIN": str(data["train"]), "EVAL": str(data["eval"]),
             "BSZ": "8", "TRAIN_BSZ": "8", "EVAL_BSZ": "8", "DATA": str(write_jsonl(tmp_path / "q.jsonl", 6))}
    full = guide_argv(GUIDE_FULL, {**paths, "OUT": str(tmp_path / "full")})
    # --fp16 true is CUDA-only mixed precision (it stops with a message on CPU): dropped here.
    at = full.index("--fp16")
    del full[at:at + 2]
    runs = [("train.hf_trainer", full, "full"),
            ("train.hf_trainer", guide_argv(GUIDE_LORA, {**paths, "OUT": str(tmp_path / "lora")}), "lora"),
            ("train.qlora", guide_argv(GUIDE_QLORA, {**paths, "OUT": str(tmp_path / "qlora")}), "qlora")]
    for module, argv, out in runs:
        assert run_guide(module, argv) == 0, capsys.readouterr().err
        record = json.loads((tmp_path / out / "tunesmith-run.json").read_text())
        assert record["status"] == "finished" and record["global_step"] >= 1
        assert "eval_loss" in json.dumps(json.loads((tmp_path / out / "trainer_state.json").read_text()))
    err = capsys.readouterr().err
    assert "--evaluation_strategy is now --eval_strategy" in err
    assert "--use_xformers: using PyTorch SDPA attention" in err
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "qlora" / "adapter_model.safetensors").is_file()
