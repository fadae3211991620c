"""--sample_prompts: generations while training, laid out as the training data, on the tiny Llama (CPU)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from train_runner_data import QUICK, data_dir, one_thread  # noqa: F401

LAYOUTS = Path(__file__).parent / "data" / "layouts"


def train(argv, callbacks=()):
    from train import hf_trainer
    from train.lm.runner import parse_cli, run_parsed

    return run_parsed(parse_cli([str(a) for a in argv], hf_trainer.types(), hf_trainer.PROG), callbacks)


def prompt_file(tmp_path: Path) -> Path:
    """A string, a list of turns, and real records (Dolly, OpenAI messages) as published."""
    dolly = (LAYOUTS / "dolly.jsonl").read_text(encoding="utf-8").splitlines()[0]
    chat = (LAYOUTS / "openai_messages.jsonl").read_text(encoding="utf-8").splitlines()[0]
    lines = [json.dumps("what is 3 plus 3?"), json.dumps([{"from": "human", "value": "hello world"}]), dolly, chat]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mode_watch(store: list):
    """Records the model's mode at each step start (sampling must hand it back in training mode)."""
    from transformers import TrainerCallback

    class Watch(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            store.append(model.training)
    return Watch()


def reference_generation(model, tokenizer, prompt_ids: list[int], max_new: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([prompt_ids]), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return out[0, len(prompt_ids):].tolist()


def test_prompt_files_parse_and_stop_at_the_broken_line(tmp_path):
    from prep.core.errors import StageError
    from train.observe.prompts import read_prompts

    prompts = read_prompts(str(prompt_file(tmp_path)))
    assert [p.messages is not None for p in prompts] == [False, True, False, True]
    dolly = prompts[2]
    assert dolly.parts[1] and dolly.reference and dolly.text.startswith(dolly.parts[0] + "\n\n")
    assert prompts[3].messages[-1]["role"] == "user" and prompts[3].reference   # the answer is kept aside
    assert len(read_prompts(str(LAYOUTS / "sharegpt.json"))) == 12                 # a JSON array file too
    text = tmp_path / "prompts.txt"
    text.write_text("first prompt\n\n{not json, just text}\n", encoding="utf-8")
    assert [p.text for p in read_prompts(str(text))] == ["first prompt", "{not json, just text}"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"fine"\n{"prompt": "also fine"}\n{"prompt": "broken\n', encoding="utf-8")
    with pytest.raises(StageError, match=r"bad.jsonl:3: not JSON"):
        read_prompts(str(bad))
    bad.write_text('"fine"\n{"answer": "no prompt key"}\n', encoding="utf-8")
    with pytest.raises(StageError, match=r"bad.jsonl:2: no prompt in keys answer"):
        read_prompts(str(bad))


def test_prompts_take_the_training_layout(tokenizers_dir, tmp_path):
    from transformers import AutoTokenizer

    from train.lm.args import DataArguments
    from train.observe.prompts import read_prompts
    from train.observe.render import encode, training_layout

    tok = AutoTokenizer.from_pretrained(tokenizers_dir["bos_eos"])
    data = data_dir(tmp_path)
    prompts = read_prompts(str(prompt_file(tmp_path)))[:2]
    chat = encode(prompts, tok, training_layout(tok, DataArguments(train_file=str(data["jsonl"]))))
    assert chat[0][1] == "<s><|user|>what is 3 plus 3?\n<|assistant|>"
    assert chat[1][1] == "<s><|user|>hello world\n<|assistant|>"
    assert chat[0][0] == tok(chat[0][1], add_special_tokens=False)["input_ids"]
    alpaca = encode(prompts[:1], tok, training_layout(tok, DataArguments(train_file=str(data["jsonl"]),
                                                                          prompt_format="alpaca")))
    assert alpaca[0][1].endswith("### Instruction:\nwhat is 3 plus 3?\n\n### Response: ")
    assert alpaca[0][0][0] == tok.bos_token_id                                     # BOS, as training adds it
    texts = encode(prompts[:1], tok, training_layout(tok, DataArguments(train_file=str(data["jsonl"]),
                                                                         dataset_format="text")))
    assert texts[0][1] == "what is 3 plus 3?\n"


@pytest.mark.slow
def test_samples_at_each_evaluation_with_lora_and_resume(tiny_model_dir, tmp_path, capfd):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data, out = data_dir(tmp_path), tmp_path / "run"
    argv = ["--model_name_or_path", tiny_model_dir, "--train_file", data["jsonl"], "--output_dir", out,
            "--use_lora", "--lora_target_modules", "q_proj,v_proj,lm_head", "--max_steps", "4",
            "--eval_dataset_size", "4", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy",
            "steps", "--save_steps", "2", "--sample_prompts", prompt_file(tmp_path), "--sample_max_new_tokens",
            "6", *QUICK[:-4], "--report_to", "tensorboard", "--optim", "adamw_torch"]
    train(argv)
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [(r["step"], r["index"]) for r in records] == [(s, i) for s in (2, 4) for i in range(4)]
    for r in records:
        assert 0 < r["tokens"] <= 6 and r["stopped_at_eos"] == (r["tokens"] < 6 or r["stopped_at_eos"])
    err = capfd.readouterr().err
    assert "samples at step 4:" in err and "laid out in chat format" in err
    never = sum(not r["stopped_at_eos"] for r in records if r["step"] == 4)
    assert (f"{never} never stopped (no EOS within 6 tokens)" in err) == (never > 0)
    events = b"".join(p.read_bytes() for p in out.rglob("events.out.tfevents.*"))
    assert b"samples/prompt_4" in events and records[-1]["generation"][:20].encode() in events   # text summaries
    # The last samples are what the saved adapter generates.
    tok = AutoTokenizer.from_pretrained(out)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out).eval()
    for r in records[4:]:
        ids = tok(r["input"], add_special_tokens=False)["input_ids"]
        new = reference_generation(model, tok, ids, 6)
        assert r["generation"] == tok.decode(new[:-1] if r["stopped_at_eos"] else new, skip_special_tokens=False)
    # A run killed after step 3: resumed from checkpoint-2, the later samples are redone, not doubled.
    before = (out / "samples.jsonl").read_text()
    shutil.rmtree(out / "checkpoint-4")
    train(argv)
    assert (out / "samples.jsonl").read_text() == before


def test_sample_every_without_evaluation_keeps_training_mode(tiny_model_dir, tmp_path):
    data, out, modes = data_dir(tmp_path), tmp_path / "run", []
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("what is 2 plus 2?\nhello world\n", encoding="utf-8")
    train(["--model_name_or_path", tiny_model_dir, "--train_file", data["jsonl"], "--output_dir", out,
           "--max_steps", "3", "--sample_prompts", prompts, "--sample_every", "1", "--sample_max_new_tokens", "3",
           *QUICK], callbacks=[mode_watch(modes)])
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [(r["step"], r["prompt"]) for r in records] == [
        (s, p) for s in (1, 2, 3) for p in ("what is 2 plus 2?", "hello world")]
    # Step 1 starts on the model as loaded (eval mode); each later step starts right after a sampling.
    assert modes[1:] == [True, True]                                 # back in training mode after sampling


def test_a_bad_prompt_file_stops_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    from prep.core.errors import StageError
    from train.lm import runner

    bad = tmp_path / "prompts.jsonl"
    bad.write_text('"ok"\n[{"role": "user", "content": 3}]\n', encoding="utf-8")

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runner, "load_model", no_model)
    data = data_dir(tmp_path)
    with pytest.raises(StageError, match=r"prompts.jsonl:2: turn 1: content is int"):
        train(["--model_name_or_path", tiny_model_dir, "--train_file", data["jsonl"], "--output_dir",
               tmp_path / "out", "--sample_prompts", bad, *QUICK])
