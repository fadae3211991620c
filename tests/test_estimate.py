"""`tunesmith estimate`: parameter counts and bytes against numbers worked out by hand."""
from __future__ import annotations

import json

import pytest

from train.tools.estimate import estimate

GIB = 2 ** 30
# A Llama-style config small enough to count by hand: h 64, i 128, L 2, H 4, K 2 (d 16), V 300.
LLAMA = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300, "rms_norm_eps": 1e-6,
         "tie_word_embeddings": False, "hidden_act": "silu"}
# Per layer: q 64*64 + k 64*32 + v 64*32 + o 64*64 = 12288; MLP 3*64*128 = 24576; 2 norms 128.
LLAMA_PARAMS = 2 * (12288 + 24576 + 128) + 300 * 64 * 2 + 64  # = 112448
LLAMA_BLOCK_LINEAR = 2 * (12288 + 24576)  # 73728, what QLoRA quantizes
# LoRA r=8 on q_proj (64->64) and v_proj (64->32): 8*(64+64) + 8*(64+32) per layer.
LORA_QV = 2 * (8 * 128 + 8 * 96)  # 3584


# Activations of LLAMA at seq 128 x batch 2 = 256 tokens, bytes per token and layer (bf16: 2):
# q width 64, k/v width 32; norms save their fp32 input (4*64 each); gate, up and SiLU outputs
# 3 * 2*128; SDPA keeps q, k, v, out 2*(64+32+32+64) + fp32 log-sum-exp 4*4.
TOKENS = 128 * 2
NORMS, MLP, ATTENTION = 2 * 4 * 64, 3 * 2 * 128, 2 * (64 + 32 + 32 + 64) + 4 * 4  # 512, 768, 400
# Full: + the normalised inputs of both norms (2 * 2*64) and the distinct linear inputs
# (q/k/v 64, o 64, gate/up 64, down 128) at 2 bytes; outside the layers the final norm's fp32
# input (4*64) and the head's input (2*64).
FULL_LAYER = NORMS + 2 * 2 * 64 + MLP + ATTENTION + 2 * (64 + 64 + 64 + 128)  # 2576
FULL_OUTSIDE = 4 * 64 + 2 * 64
LOGITS = TOKENS * 300 * 12


def test_llama_counts_by_hand():
    assert LLAMA_PARAMS == 112448
    result = estimate(LLAMA, "full", seq_len=128, batch_size=2)
    assert result["params"] == LLAMA_PARAMS and result["trainable"] == LLAMA_PARAMS
    b = result["bytes"]
    assert b["weights"] == 2 * LLAMA_PARAMS and b["gradients"] == 2 * LLAMA_PARAMS
    assert b["optimizer states"] == 12 * LLAMA_PARAMS  # fp32 master + m + v
    assert FULL_LAYER == 2576
    assert b["activations"] == TOKENS * (2 * FULL_LAYER + FULL_OUTSIDE)
    assert b["logits"] == LOGITS  # fp32 log-softmax output + gradient in + gradient out
    assert b["CUDA context"] == int(0.75 * GIB)
    assert result["total_gib"] == pytest.approx(sum(b.values()) / GIB)


def test_activation_variants_by_hand():
    eager = estimate(LLAMA, "full", 128, 2, attention="eager")["bytes"]["activations"]
    assert eager == TOKENS * (2 * (FULL_LAYER + (4 + 2) * 4 * 128) + FULL_OUTSIDE)  # fp32 softmax + copy
    # Checkpointing: each layer's 2-byte input; the recomputed layer (2576 a token) stays under
    # the logits term (12 * 300 = 3600 a token), so the peak at the loss backward adds nothing.
    ckpt = estimate(LLAMA, "full", 128, 2, checkpointing=True)["bytes"]["activations"]
    assert ckpt == TOKENS * (2 * 2 * 64 + FULL_OUTSIDE)
    # With vocabulary 100 (1200 a token) the recomputed layer exceeds it by 1376 a token.
    small_vocab = {**LLAMA, "vocab_size": 100}
    ckpt = estimate(small_vocab, "full", 128, 2, checkpointing=True)["bytes"]["activations"]
    assert ckpt == TOKENS * (2 * 2 * 64 + FULL_OUTSIDE + FULL_LAYER - 1200)
    fp32 = estimate(LLAMA, "full", 128, 2, precision="fp32")["bytes"]
    # Everything at 4 bytes; the norms' fp32 inputs were 4 already.
    layer32 = 2 * (4 * 64 + 4 * 64) + 3 * 4 * 128 + 4 * (64 + 32 + 32 + 64) + 16 + 4 * (64 + 64 + 64 + 128)
    assert fp32["activations"] == TOKENS * (2 * layer32 + 4 * 64 + 4 * 64)
    assert (fp32["weights"], fp32["gradients"], fp32["optimizer states"]) == \
        (4 * LLAMA_PARAMS, 4 * LLAMA_PARAMS, 8 * LLAMA_PARAMS)


def test_lora_and_qlora_by_hand():
    lora = estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj", lora_dropout=0.0)
    assert lora["trainable"] == LORA_QV
    assert lora["bytes"]["weights"] == 2 * LLAMA_PARAMS + 4 * LORA_QV
    assert lora["bytes"]["gradients"] == 4 * LORA_QV
    assert lora["bytes"]["optimizer states"] == 8 * LORA_QV
    # LoRA keeps a 2-byte copy of each target's input (q 64, v 64) and the rank-8 middle.
    targets = 2 * (64 + 8) + 2 * (64 + 8)
    assert lora["bytes"]["activations"] == TOKENS * (2 * (NORMS + MLP + ATTENTION + targets) + 4 * 64)
    dropout = estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj", lora_dropout=0.1)
    assert dropout["bytes"]["activations"] == lora["bytes"]["activations"] + TOKENS * 2 * (64 + 64)  # masks
    qlora = estimate(LLAMA, "qlora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj", lora_dropout=0.0)
    nf4 = 0.5 + 1 / 64 + 4 / (64 * 256)
    # unquantized parts fp32 (prepare_model_for_kbit_training), + a bf16 copy of the LM head
    expected = LLAMA_BLOCK_LINEAR * nf4 + (LLAMA_PARAMS - LLAMA_BLOCK_LINEAR) * 4 + 300 * 64 * 2 + 4 * LORA_QV
    assert qlora["bytes"]["weights"] == round(expected)
    # fp32 residual stream: gate, up and SiLU outputs at 4 bytes; checkpointed inputs at 4 bytes.
    qlayer = NORMS + 3 * 4 * 128 + ATTENTION + targets
    assert qlora["bytes"]["activations"] == TOKENS * (2 * qlayer + 4 * 64)
    qckpt = estimate(LLAMA, "qlora", 128, 2, True, lora_rank=8, lora_targets="q_proj,v_proj", lora_dropout=0.0)
    assert qckpt["bytes"]["activations"] == TOKENS * (2 * 4 * 64 + 4 * 64)
    eight_bit = estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj",
                         optimizer="paged-adamw-8bit", lora_dropout=0.0)
    assert eight_bit["bytes"]["optimizer states"] == 2 * LORA_QV
    # all-linear: q, k, v, o, gate, up, down of every layer.
    per_layer = 8 * ((64 + 64) + 2 * (64 + 32) + (64 + 64) + 2 * (64 + 128) + (128 + 64))
    assert estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="all-linear")["trainable"] == 2 * per_layer


def test_estimate_defaults_are_the_runners():
    """No LoRA flags: the estimate describes the run train.hf_trainer launches with none."""
    from train.lm.args import LoraArguments

    runner = LoraArguments()
    default = estimate(LLAMA, "lora", 128, 2)
    assert default["options"]["lora_rank"] == runner.lora_rank
    assert default["options"]["lora_dropout"] == runner.lora_dropout
    # PEFT's choice for a llama config is q_proj and v_proj; rank 4 on each of the two layers.
    explicit = estimate(LLAMA, "lora", 128, 2, lora_rank=runner.lora_rank, lora_targets="q_proj,v_proj",
                        lora_dropout=runner.lora_dropout)
    assert default["trainable"] == explicit["trainable"] == 2 * runner.lora_rank * ((64 + 64) + (64 + 32))
    assert default["bytes"] == explicit["bytes"]


def test_llama_1b_shape_per_hidden():
    """Per token and layer, in bytes per hidden unit, for the 1.1B Llama shape (i = 4h, K = H/4)."""
    config = {**LLAMA, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
              "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000}
    per_h = {}
    lora = {"lora_rank": 16, "lora_targets": "all-linear", "lora_dropout": 0.0}
    for method in ("full", "lora", "qlora"):
        one = estimate({**config, "num_hidden_layers": 1}, method, 256, 1, **lora)["bytes"]["activations"]
        two = estimate({**config, "num_hidden_layers": 2}, method, 256, 1, **lora)["bytes"]["activations"]
        per_h[method] = (two - one) / 256 / 2048
    # LoRA 8 norms + 24 MLP + 5 attention + 20 target copies; QLoRA's MLP at 4 bytes: 48.
    assert per_h["lora"] == pytest.approx(57, abs=0.3) and per_h["qlora"] == pytest.approx(81, abs=0.3)
    assert per_h["full"] == pytest.approx(55, abs=0.3)


def test_gpt2_and_bert_fields_by_hand():
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": None, "vocab_size": 300,
            "n_positions": 128, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}
    # c_attn 64*192+192, c_proj 64*64+64, c_fc 64*256+256, c_proj 256*64+64, 2 LayerNorms 2*128.
    per_layer = 12480 + 4160 + 16640 + 16448 + 256
    assert estimate(gpt2, "full", 8, 1)["params"] == 2 * per_layer + 300 * 64 + 128 * 64 + 128


def test_counts_match_real_models(tiny_model_dir):
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert estimate(config, "full", 8, 1)["params"] == sum(p.numel() for p in model.parameters())
    for made in (LlamaConfig(**{k: v for k, v in LLAMA.items() if k != "model_type"}),
                 GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=128),
                 LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
                             num_key_value_heads=2, head_dim=16, vocab_size=256, tie_word_embeddings=True)):
        real = AutoModelForCausalLM.from_config(made)
        real.tie_weights()
        assert estimate(made.to_dict(), "full", 8, 1)["params"] == sum(p.numel() for p in real.parameters())


def test_lora_count_matches_peft(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = json.loads((tiny_model_dir / "config.json").read_text())
    for targets in ("q_proj,v_proj", "all-linear"):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=targets if targets == "all-linear"
                                                      else targets.split(",")))
        trainable, _ = peft_model.get_nb_trainable_parameters()
        assert estimate(config, "lora", 8, 1, lora_rank=8, lora_targets=targets)["trainable"] == trainable


def test_monotonic():
    config = {**LLAMA, "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8,
              "num_attention_heads": 8, "num_key_value_heads": 8, "vocab_size": 32000}
    # QLoRA saves memory where the 4-bit block weights outweigh its fp32 residual stream and
    # fp32 embeddings (a small model with a 32k vocabulary: they do not), as in a 7B shape.
    big = {**config, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 32}
    for checkpointing in (False, True):
        total = {m: estimate(big, m, 512, 1, checkpointing)["total_gib"] for m in ("full", "lora", "qlora")}
        assert total["qlora"] < total["lora"] < total["full"]
    plain = estimate(config, "lora", 512, 4)["bytes"]["activations"]
    assert estimate(config, "lora", 512, 4, checkpointing=True)["bytes"]["activations"] < plain
    assert estimate(config, "lora", 1024, 4)["bytes"]["activations"] > plain
    assert estimate(config, "lora", 512, 4, attention="eager")["bytes"]["activations"] > plain


def test_cli_table_json_and_errors(cli, tiny_model_dir, tmp_path):
    code, out, err = cli("estimate", "--model", tiny_model_dir, "--method", "lora", "--seq-len", 64,
                         "--batch-size", 2, "--lora-rank", 4, "--gradient-checkpointing")
    assert code == 0, err
    for part in ("weights", "gradients", "optimizer states", "activations", "logits", "CUDA context", "total"):
        assert part in out
    code, out, _ = cli("estimate", "--model_name_or_path", tiny_model_dir / "config.json", "--method", "qlora",
                       "--max-length", 64, "--per_device_train_batch_size", 2, "--optim", "paged_adamw_8bit",
                       "--json")
    result = json.loads(out)
    assert code == 0 and result["options"]["optimizer"] == "paged-adamw-8bit"
    assert result["total_gib"] == pytest.approx(sum(result["gib"].values()))
    code, _, err = cli("estimate", "--model", tiny_model_dir, "--method", "lora", "--seq-len", 8,
                       "--batch-size", 1, "--lora-targets", "qkv")
    assert code == 2 and "unknown LoRA target" in err and "q_proj" in err
    code, _, err = cli("estimate", "--model", tiny_model_dir, "--method", "lora", "--seq-len", 8,
                       "--batch-size", 1, "--lora-dropout", 1.5)
    assert code == 2 and "--lora-dropout" in err
    code, _, err = cli("estimate", "--model", tmp_path, "--method", "full", "--seq-len", 8, "--batch-size", 1)
    assert code == 2 and "no config.json" in err
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 10}))
    code, _, err = cli("estimate", "--model", tmp_path, "--method", "full", "--seq-len", 8, "--batch-size", 1)
    assert code == 2 and "hidden_size / n_embd" in err


def test_preference_objectives_by_hand():
    sft = estimate(LLAMA, "full", 128, 2)["bytes"]
    dpo = estimate(LLAMA, "full", 128, 2, objective="dpo")["bytes"]
    # A frozen bf16 reference: 2 bytes a parameter, no gradients or optimizer states for it.
    assert dpo["reference model"] == 2 * LLAMA_PARAMS and sft["reference model"] == 0
    assert (dpo["gradients"], dpo["optimizer states"]) == (sft["gradients"], sft["optimizer states"])
    # Chosen + rejected: 2 x 2 sequences of 128 tokens.
    assert dpo["activations"] == 2 * TOKENS * (2 * FULL_LAYER + FULL_OUTSIDE) and dpo["logits"] == 2 * LOGITS
    kto = estimate(LLAMA, "full", 128, 2, objective="kto")["bytes"]
    assert kto["reference model"] == 2 * LLAMA_PARAMS and kto["activations"] == sft["activations"]
    orpo = estimate(LLAMA, "full", 128, 2, objective="orpo")["bytes"]
    assert orpo["reference model"] == 0 and orpo["logits"] == 2 * LOGITS
    # LoRA: the reference is the base with adapters off, so nothing is added.
    lora = estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj", objective="dpo")
    plain = estimate(LLAMA, "lora", 128, 2, lora_rank=8, lora_targets="q_proj,v_proj")
    assert lora["bytes"]["reference model"] == 0 and lora["bytes"]["weights"] == plain["bytes"]["weights"]
    assert lora["bytes"]["activations"] == 2 * plain["bytes"]["activations"]


def test_objective_flag_on_the_command_line(cli, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA), encoding="utf-8")
    code, out, err = cli("estimate", "--model", config, "--method", "full", "--objective", "dpo", "--seq-len", "128",
                         "--batch-size", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["objective"] == "dpo" and result["bytes"]["reference model"] == 2 * LLAMA_PARAMS
