"""The training runner on CPU with a tiny Llama: full, LoRA, QLoRA, batching, data and setup errors."""
from __future__ import annotations

import pytest
from train_runner_data import QUICK, data_dir, examples, one_thread, state_dict, write_arrow  # noqa: F401


@pytest.fixture
def data(tmp_path):
    return data_dir(tmp_path)


def hf_trainer(argv, callbacks=()):
    """Parse like `python -m train.hf_trainer` and train in this process; returns the run record."""
    from train import hf_trainer
    from train.lm.runner import parse_cli, run_parsed

    return run_parsed(parse_cli([str(a) for a in argv], hf_trainer.types(), hf_trainer.PROG), callbacks)


def snapshot_callback(store: dict):
    """Keeps the model's weights at the start and end of training, and its logits at the end."""
    import torch
    from transformers import TrainerCallback

    class Snapshot(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            store["before"] = state_dict(model)
            store["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}

        def on_train_end(self, args, state, control, model=None, **kwargs):
            store["after"] = state_dict(model)
            model.eval()
            with torch.no_grad():
                store["logits"] = model(input_ids=torch.tensor([[1, 40, 41, 42, 43, 2]])).logits
    return Snapshot()


# --- batching ----------------------------------------------------------------------------

def test_collator_pads_by_length_even_where_pad_is_eos():
    from train.lm.collate import PadCollator

    eos = 2
    batch = PadCollator(pad_token_id=eos, pad_to_multiple_of=8)(
        [{"input_ids": [1, 5, eos], "labels": [-100, 5, eos], "length": 3},
         {"input_ids": [1, 6, 7, 8, eos], "labels": [-100, -100, 7, 8, eos]}])
    assert batch["input_ids"].shape == (2, 8)
    assert batch["labels"][0].tolist() == [-100, 5, eos] + [-100] * 5      # the real EOS is trained
    assert batch["attention_mask"][0].tolist() == [1, 1, 1] + [0] * 5
    uft = PadCollator(0, 0, labels_from_input_ids=True)([{"input_ids": [1, 5, 2]}])
    assert uft["labels"].tolist() == [[1, 5, 2]]


def test_length_grouped_sampler_is_seeded_by_epoch():
    from train.lm.collate import LengthGroupedSampler

    lengths = [(i * 37) % 101 + 1 for i in range(250)]
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(250))                     # every example once
    assert list(LengthGroupedSampler(lengths, 4, 3)) == first    # same seed, same order
    assert max(lengths[i] for i in first[:4]) == max(lengths)    # longest batch first
    batches = [first[i:i + 4] for i in range(0, 248, 4)]
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 10                                           # lengths are grouped (random: ~60)
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == list(range(250))


# --- training ----------------------------------------------------------------------------

def test_full_finetune_changes_every_weight(tiny_model_dir, data, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "full"
    record = hf_trainer(["--model_name_or_path", tiny_model_dir, "--train_file", data["train"],
                         "--eval_file", data["eval"], "--output_dir", out, "--max_steps", "4",
                         "--group_by_length", "--do_eval", *QUICK, "--report_to", "tensorboard"])
    assert record["method"] == "full" and record["global_step"] == 4 and record["eval_examples"] == 8
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    unchanged = [k for k in before if k in after and before[k].equal(after[k])]
    assert unchanged == []
    assert (out / "curves.json").is_file() and (out / "tokenizer.json").is_file()
    assert list(out.rglob("events.out.tfevents.*"))             # tensorboard works out of the box


def test_lora_on_embeddings_and_head_trains_only_adapters(tiny_model_dir, data, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, store = tmp_path / "lora", {}
    hf_trainer(["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", out,
                "--max_steps", "5", "--use_lora", "--lora_rank", "4", "--lora_alpha", "8",
                "--lora_target_modules", "q_proj,v_proj,embed_tokens,lm_head", "--gradient_checkpointing", "true",
                *QUICK], callbacks=[snapshot_callback(store)])
    trainable = store["trainable"]
    assert any("embed_tokens.lora_embedding_A" in n for n in trainable)
    assert any("lm_head.lora_A" in n for n in trainable)
    for name, value in store["before"].items():
        changed = not value.equal(store["after"][name])
        assert changed == (name in trainable), name
    saved = load_file(out / "adapter_model.safetensors")
    assert saved.keys() and all("lora_" in k for k in saved)       # adapters only, no copy of the base
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    loaded = PeftModel.from_pretrained(base, out).eval()
    with torch.no_grad():
        logits = loaded(input_ids=torch.tensor([[1, 40, 41, 42, 43, 2]])).logits
    assert torch.allclose(logits, store["logits"], atol=1e-5)


def test_lora_with_added_tokens_saves_the_grown_embeddings(tiny_model_dir, data, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, store = tmp_path / "lora-tokens", {}
    hf_trainer(["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", out,
                "--max_steps", "2", "--use_lora", "--lora_target_modules", "q_proj,embed_tokens,lm_head",
                "--add_special_tokens", "<|model|>", *QUICK], callbacks=[snapshot_callback(store)])
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert "<|model|>" in tokenizer.get_vocab()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base.resize_token_embeddings(len(tokenizer))          # the adapter holds the grown rows
    loaded = PeftModel.from_pretrained(base, out).eval()
    with torch.no_grad():
        logits = loaded(input_ids=torch.tensor([[1, 40, 41, 42, 43, 2]])).logits
    assert logits.shape[-1] == len(tokenizer) and torch.allclose(logits, store["logits"], atol=1e-5)


def test_qlora_4bit_on_cpu(tiny_model_dir, data, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, store = tmp_path / "qlora", {}
    record = hf_trainer(["--model_name_or_path", tiny_model_dir, "--train_file", data["jsonl"],
                         "--output_dir", out, "--max_steps", "3", "--use_lora", "--bits", "4",
                         "--lora_target_modules", "all-linear", "--bf16", "true", *QUICK],
                        callbacks=[snapshot_callback(store)])
    assert record["method"] == "qlora"
    changed = [n for n in store["trainable"] if not store["before"][n].equal(store["after"][n])]
    assert len(changed) == len(store["trainable"]) > 0
    saved = load_file(out / "adapter_model.safetensors")
    assert saved and all("lora_" in k for k in saved)
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out)


# --- setup errors ------------------------------------------------------------------------

def test_wrong_target_module_lists_the_models_modules(tiny_model_dir, data, tmp_path, capsys):
    from train.hf_trainer import main

    code = main(["--model_name_or_path", str(tiny_model_dir), "--train_file", str(data["train"]),
                 "--output_dir", str(tmp_path / "x"), "--use_lora", "--lora_target_modules", "q_proj,query_key_value",
                 *QUICK])
    err = capsys.readouterr().err
    assert code == 2 and "query_key_value matches no module" in err
    assert "q_proj x2 (Linear)" in err and "embed_tokens x1 (Embedding)" in err and "lm_head x1" in err


def test_missing_labels_names_the_columns(tiny_model_dir, tmp_path, capsys):
    from train.hf_trainer import main

    ids_only = write_arrow(tmp_path / "ids.arrow", examples(8, 3), labels=False)
    argv = ["--model_name_or_path", str(tiny_model_dir), "--train_file", str(ids_only),
            "--output_dir", str(tmp_path / "x"), "--max_steps", "1", *QUICK]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no labels column (columns: input_ids, length)" in err and "--uft" in err
    assert main([*argv, "--uft"]) == 0      # unsupervised: labels are the input_ids


def test_tokenizer_that_does_not_fit_the_model(tokenizers_dir, data, tmp_path, capsys):
    from tiny import make_llama
    from transformers import AutoTokenizer

    from train.hf_trainer import main

    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    small = tmp_path / "small"
    make_llama(small, tok, vocab_size=len(tok) - 20)
    argv = ["--model_name_or_path", str(small), "--train_file", str(data["train"]), "--max_steps", "1", *QUICK]
    assert main([*argv, "--output_dir", str(tmp_path / "a")]) == 2
    assert f"the tokenizer has {len(tok)} tokens but the model's embedding has {len(tok) - 20} rows" in \
        capsys.readouterr().err
    # special tokens added with --add_special_tokens grow the embeddings to fit
    grown = tmp_path / "grown"
    make_llama(grown, tok)
    assert main([*argv, "--model_name_or_path", str(grown), "--add_special_tokens", "<|model|>,<|scene|>",
                 "--output_dir", str(tmp_path / "b")]) == 0
    assert f"from {len(tok)} to {len(tok) + 2} rows" in capsys.readouterr().err
