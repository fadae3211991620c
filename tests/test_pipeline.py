"""The whole chain on the committed sample data: recipes/prep.sh, then a short LoRA run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_prep_recipe_then_training_on_data_raw(tmp_path, tiny_model_dir):
    work = tmp_path / "work"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "WORK": str(work), "TOKENIZER": str(tiny_model_dir), "EMBEDDER": "tfidf", "MAX_LENGTH": "256",
           "CLUSTERS": "3", "QUIET": "--quiet"}
    proc = subprocess.run(["bash", "recipes/prep.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout

    # Every stage kept its books: read == kept + dropped + errors, and something survived each.
    for name in ["extracted/html.jsonl", "extracted/articles.jsonl", "extracted/forum.jsonl",
                 "extracted/instructions.jsonl", "clean.jsonl", "filtered.jsonl", "dedup.jsonl", "clustered.jsonl", "train.jsonl",
                 "train.arrow", "val.arrow"]:
        stats = json.loads((work / f"{name}.stats.json").read_text())
        assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"], name
        assert stats["kept"] > 0, name
    clean = json.loads((work / "clean.jsonl.stats.json").read_text())
    assert clean["dropped"].get("refusal", 0) >= 5   # the sample's refusals are gone
    dedup = json.loads((work / "dedup.jsonl.stats.json").read_text())
    assert dedup["exact_duplicates"] + dedup["near_duplicates"] >= 5
    train = [json.loads(line) for line in (work / "train.jsonl").read_text().splitlines()]
    val = [json.loads(line) for line in (work / "val.jsonl").read_text().splitlines()]
    assert {r["meta"]["dup_group"] for r in train}.isdisjoint(r["meta"]["dup_group"] for r in val)
    assert all("cluster" in r["meta"] for r in train)

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "train.hf_trainer", "--model_name_or_path", str(tiny_model_dir),
         "--train_file", str(work / "train.arrow"), "--eval_file", str(work / "val.arrow"),
         "--output_dir", str(out), "--use_lora", "--lora_target_modules", "all-linear", "--max_steps", "4",
         "--per_device_train_batch_size", "4", "--eval_strategy", "steps", "--eval_steps", "2",
         "--save_steps", "2", "--logging_steps", "1", "--report_to", "none", "--use_cpu"],
        cwd=ROOT, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "adapter_model.safetensors").is_file()
    curves = json.loads((out / "curves.json").read_text())
    assert curves["diagnosis"]["verdict"] in {"underfit", "overfit", "well-fit"}
