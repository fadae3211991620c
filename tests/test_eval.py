"""`tunesmith eval`: lm-evaluation-harness on the tiny model, offline, with a local COPA task file."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

TASKS = Path(__file__).parent / "data" / "eval"
TASK = "tunesmith_copa_sample"


@pytest.fixture
def offline(monkeypatch):
    """Nothing may reach the network: hub and datasets offline, and any socket connect refused."""
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError(f"network access in an offline test: {address}")

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert attempts == []


def make_adapter(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter on the tiny model with non-zero B matrices, so that it changes the scores."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "lm_head"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(out)
    return out


def loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Sum of log p(continuation | BOS + context), computed here, token by token."""
    import torch

    ctx = tokenizer(context)["input_ids"]
    whole = tokenizer(context + continuation)["input_ids"]
    ids = torch.tensor([whole])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits.log_softmax(-1)[0]
    return float(sum(logprobs[i - 1, whole[i]] for i in range(len(ctx), len(whole))))


@pytest.mark.slow
def test_eval_scores_model_and_adapter_offline(cli, tiny_model_dir, tmp_path, offline):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter")
    scores = {}
    for name, extra in (("base", []), ("adapter", ["--adapter", adapter])):
        out = tmp_path / f"{name}.json"
        code, stdout, err = cli("eval", "--model", tiny_model_dir, *extra, "--tasks", TASK, "--include_path",
                                TASKS, "--limit", "6", "--device", "cpu", "--log_samples", "--output", out)
        assert code == 0, err
        results = json.loads(out.read_text())
        assert results["n-samples"][TASK]["effective"] == 6                 # --limit reached the harness
        assert f"{TASK}  acc" in stdout and str(out) in stdout
        scores[name] = results
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    models = {"base": base, "adapter": PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter).eval()}
    for name, results in scores.items():
        docs = results["samples"][TASK]
        correct = 0
        for doc in docs:
            assert [a[1].strip() for a in doc["arguments"]] == [doc["doc"]["choice1"][0].lower() + doc["doc"][
                "choice1"][1:], doc["doc"]["choice2"][0].lower() + doc["doc"]["choice2"][1:]]
            mine = [loglikelihood(models[name], tokenizer, context, continuation)
                    for context, continuation in doc["arguments"]]
            theirs = [float(r[0][0]) for r in doc["resps"]]
            assert mine == pytest.approx(theirs, abs=1e-3)                  # the model the harness scored
            correct += int(max(range(2), key=mine.__getitem__) == doc["doc"]["label"])
        assert results["results"][TASK]["acc,none"] == pytest.approx(correct / len(docs))
    base_ll = [r[0][0] for d in scores["base"]["samples"][TASK] for r in d["resps"]]
    adapter_ll = [r[0][0] for d in scores["adapter"]["samples"][TASK] for r in d["resps"]]
    assert base_ll != pytest.approx(adapter_ll, abs=1e-3)                  # the adapter was applied


def test_eval_errors_are_one_line(cli, tiny_model_dir, tmp_path, monkeypatch):
    import builtins

    from prep.core.errors import StageError
    from train.observe.harness import task_manager

    class Index:  # lm-eval's TaskManager answers all_tasks; indexing its real task files takes ~10 s
        made = []

        def __init__(self, verbosity=None, include_path=None, include_defaults=True):
            self.all_tasks = [TASK] + (["copa", "arc_easy"] if include_defaults else [])
            Index.made.append(include_defaults)

    assert task_manager(Index, [TASK], str(TASKS)).all_tasks == [TASK] and Index.made == [False]
    assert "copa" in task_manager(Index, [TASK, "copa"], str(TASKS)).all_tasks    # lm-eval's own tasks too
    with pytest.raises(StageError, match="unknown task copa_x: 3 tasks are known; close: copa"):
        task_manager(Index, ["copa_x"], str(TASKS))
    code, _, err = cli("eval", "--model", tiny_model_dir, "--tasks", TASK, "--include_path", tmp_path / "none")
    assert code == 2 and "no such folder" in err
    real_import = builtins.__import__

    def without_lm_eval(name, *args, **kwargs):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_lm_eval)
    code, _, err = cli("eval", "--model", tiny_model_dir, "--tasks", TASK)
    assert code == 2 and "pip install tunesmith[eval]" in err and err.count("\n") == 1
