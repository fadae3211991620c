"""`tunesmith merge`: LoRA adapters merged into the base give the PeftModel's logits and generate."""
from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")


def make_adapter(base_dir, adapter_dir, lora_kwargs, new_tokens=(), seed=1):
    """A PeftModel over the tiny base with every trainable weight moved away from its init, saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    if new_tokens:
        tokenizer.add_tokens(list(new_tokens))
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, **lora_kwargs))
    with torch.no_grad():
        # lora_B starts at zero (the adapter would change nothing); move every trained weight.
        for param in peft_model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.1)
    peft_model.save_pretrained(adapter_dir)
    if new_tokens:
        tokenizer.save_pretrained(adapter_dir)
    return peft_model.eval(), tokenizer


def check_merged(merged_dir, peft_model, tokenizer, base_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    base = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    ids = tokenizer("the quick brown fox jumps over the lazy dog", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        untouched = base(input_ids=ids).logits
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    vocab = untouched.shape[-1]
    assert (untouched - expected[..., :vocab]).abs().max() > 1e-2  # the adapter did change the model
    assert not any(p.name.startswith("adapter_") for p in merged_dir.iterdir())
    assert (merged_dir / "model.safetensors").is_file()
    saved_tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    assert len(saved_tokenizer) == len(tokenizer)
    out = merged.generate(ids[:, :4], max_new_tokens=5, do_sample=False,
                          pad_token_id=saved_tokenizer.pad_token_id)
    assert out.shape[1] == 9
    return merged


def test_merge_lora_q_v(tmp_path, cli, tiny_model_dir):
    peft_model, tokenizer = make_adapter(tiny_model_dir, tmp_path / "adapter", {"target_modules": ["q_proj", "v_proj"]})
    code, out, err = cli("merge", "--base", tiny_model_dir, "--adapter", tmp_path / "adapter",
                         "--output", tmp_path / "merged", "--dtype", "fp32")
    assert code == 0, err
    assert "merged" in out and f"tokenizer from {tiny_model_dir}" in out
    merged = check_merged(tmp_path / "merged", peft_model, tokenizer, tiny_model_dir)
    assert merged.dtype == torch.float32
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_merge_modules_to_save_with_new_tokens(tmp_path, cli, tiny_model_dir):
    peft_model, tokenizer = make_adapter(
        tiny_model_dir, tmp_path / "adapter",
        {"target_modules": ["q_proj", "v_proj"], "modules_to_save": ["embed_tokens", "lm_head"]},
        new_tokens=("<|tool|>", "<|result|>"))
    base_vocab = json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    assert len(tokenizer) == base_vocab + 2
    # --base left out: taken from adapter_config.json.
    code, out, err = cli("merge", "--adapter", tmp_path / "adapter", "--output", tmp_path / "merged",
                         "--dtype", "fp32")
    assert code == 0, err
    assert f"resized the base vocabulary {base_vocab} -> {base_vocab + 2}" in out
    assert "tokenizer from" in out and "adapter" in out
    merged = check_merged(tmp_path / "merged", peft_model, tokenizer, tiny_model_dir)
    assert merged.get_input_embeddings().weight.shape[0] == base_vocab + 2
    new_id = tokenizer.convert_tokens_to_ids("<|tool|>")
    trained = peft_model.base_model.model.model.embed_tokens.modules_to_save["default"].weight[new_id]
    assert torch.equal(merged.get_input_embeddings().weight[new_id], trained)


def test_merge_bf16_default_and_overwrite(tmp_path, cli, tiny_model_dir):
    make_adapter(tiny_model_dir, tmp_path / "adapter", {"target_modules": ["q_proj"]})
    (tmp_path / "merged").mkdir()
    code, _, err = cli("merge", "--base", tiny_model_dir, "--adapter", tmp_path / "adapter", "--output",
                       tmp_path / "merged")
    assert code == 2 and "already exists" in err
    code, _, err = cli("merge", "--base", tiny_model_dir, "--adapter", tmp_path / "adapter", "--output",
                       tmp_path / "merged", "--overwrite")
    assert code == 0, err
    from transformers import AutoModelForCausalLM
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "merged").dtype == torch.bfloat16


def test_merge_errors(tmp_path, cli, tiny_model_dir):
    run = tmp_path / "run"
    (run / "checkpoint-10").mkdir(parents=True)
    (run / "checkpoint-10" / "adapter_config.json").write_text("{}")
    (run / "trainer_state.json").write_text("{}")
    code, _, err = cli("merge", "--base", tiny_model_dir, "--adapter", run, "--output", tmp_path / "m")
    assert code == 2 and "no adapter_config.json" in err and "checkpoint-10" in err
    make_adapter(tiny_model_dir, tmp_path / "adapter", {"target_modules": ["q_proj"]})
    code, _, err = cli("merge", "--base", tmp_path / "no-such-base", "--adapter", tmp_path / "adapter",
                       "--output", tmp_path / "m")
    assert code == 2 and "does not exist" in err and "no-such-base" in err
    quantized = tmp_path / "quantized-base"
    shutil.copytree(tiny_model_dir, quantized)
    config = json.loads((quantized / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (quantized / "config.json").write_text(json.dumps(config))
    code, _, err = cli("merge", "--base", quantized, "--adapter", tmp_path / "adapter", "--output", tmp_path / "m")
    assert code == 2 and "stored quantized" in err
    assert not (tmp_path / "m").exists()
