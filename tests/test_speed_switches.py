"""Each speed switch accepted or refused with a clear message; length grouping; the benchmark's CPU mode."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from train_runner_data import QUICK, data_dir, log_losses, one_thread  # noqa: E402, F401

from prep.core.errors import StageError  # noqa: E402
from train.lm import switches  # noqa: E402
from train.lm.switches import check_switches, resolve_attention  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NoSdpaModel:
    _supports_sdpa = False
    _supports_flash_attn = False


class FullModel:
    _supports_sdpa = True
    _supports_flash_attn = True


@pytest.fixture
def gpu(monkeypatch):
    """Pretend a CUDA GPU is present (what the checks read), with or without bf16."""
    monkeypatch.setattr(switches, "device_of", lambda use_cpu=False: "cpu" if use_cpu else "cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")

    def with_bf16(supported: bool):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    return with_bf16


def test_attention_default_follows_the_model_class():
    from transformers import LlamaForCausalLM

    assert resolve_attention(None, LlamaForCausalLM)[0] == "sdpa"
    assert resolve_attention(None, NoSdpaModel)[0] == "eager"
    assert resolve_attention(None, None)[0] == "sdpa"  # our encoder
    attn, notes = resolve_attention("sdpa", NoSdpaModel)
    assert attn == "eager" and "NoSdpaModel has no SDPA" in notes[0]
    assert resolve_attention("eager", FullModel)[0] == "eager"


def test_flash_attention_refused_with_what_is_missing(gpu, monkeypatch):
    with pytest.raises(StageError, match="needs the flash-attn package and a CUDA GPU.*use --attn_implementation sdpa"):
        check_switches(attn_implementation="flash_attention_2", model_class=FullModel, use_cpu=True)
    monkeypatch.setattr(switches, "installed", lambda name: True)
    assert check_switches(attn_implementation="flash_attention_2", model_class=FullModel).attn_implementation \
        == "flash_attention_2"
    with pytest.raises(StageError, match="NoSdpaModel does not"):
        check_switches(attn_implementation="flash_attention_2", model_class=NoSdpaModel)
    with pytest.raises(StageError, match="scratch encoder has sdpa and eager only"):
        check_switches(attn_implementation="flash_attention_2", model_class=None)
    with pytest.raises(StageError, match="choose one of eager, sdpa, flash_attention_2"):
        check_switches(attn_implementation="xformers")


def test_precision_switches(gpu):
    with pytest.raises(StageError, match="--fp16 mixed precision needs a CUDA GPU.*use --bf16"):
        check_switches(attn_implementation=None, fp16=True, use_cpu=True)
    with pytest.raises(StageError, match="choose one"):
        check_switches(attn_implementation=None, fp16=True, bf16=True)
    assert check_switches(attn_implementation=None, bf16=True, use_cpu=True).device == "cpu"
    gpu(False)
    with pytest.raises(StageError, match=r"this GPU \(Tesla T4\) has no bfloat16 support.*use --fp16"):
        check_switches(attn_implementation=None, bf16=True)
    assert check_switches(attn_implementation=None, fp16=True).device == "cuda"
    gpu(True)
    assert check_switches(attn_implementation=None, bf16=True).device == "cuda"


def test_compile_is_accepted_with_a_warning(capsys):
    result = check_switches(attn_implementation=None, torch_compile=True, use_cpu=True)
    assert "tunesmith: warning: --torch_compile: the first steps compile" in capsys.readouterr().err
    assert len(result.notes) == 1
    check_switches(attn_implementation=None, torch_compile=True, use_cpu=True, quiet=True)
    assert capsys.readouterr().err == ""


def test_liger_names_what_is_missing(gpu, monkeypatch):
    with pytest.raises(StageError, match=r"--use_liger needs the liger-kernel package \(pip install liger-kernel\) "
                                         "and a CUDA GPU"):
        check_switches(attn_implementation=None, use_liger=True, use_cpu=True)
    with pytest.raises(StageError, match=r"needs the liger-kernel package \(pip install liger-kernel\); drop"):
        check_switches(attn_implementation=None, use_liger=True)  # GPU present, package not installed
    monkeypatch.setattr(switches, "installed", lambda name: True)
    with pytest.raises(StageError, match="needs a CUDA GPU"):
        check_switches(attn_implementation=None, use_liger=True, use_cpu=True)
    check_switches(attn_implementation=None, use_liger=True)


def test_packing_only_for_causal_lm():
    assert check_switches(attn_implementation="eager", packing="padding-free", use_cpu=True).attn_implementation \
        == "eager"
    with pytest.raises(StageError, match="--group_by_length"):
        check_switches(attn_implementation=None, packing="padding-free", task="seq-cls", use_cpu=True)
    with pytest.raises(StageError, match="choose one of none, padding-free"):
        check_switches(attn_implementation=None, packing="greedy", use_cpu=True)


def test_classifier_flag_refused_in_one_line(tmp_path, capsys):
    from train.classify.run import main

    code = main(["--fp16", "--use_cpu", "--train_file", str(tmp_path / "x.jsonl"), "--output_dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("tunesmith: error: --fp16 mixed precision needs a CUDA GPU")


def test_group_by_length_sampler_and_dynamic_padding():
    """Every example once per epoch; batches of similar length pad far less than random ones."""
    from train.classify.data import ClassCollator
    from train.lm.collate import LengthGroupedSampler

    lengths = [int(x) for x in torch.randint(4, 400, (640,), generator=torch.Generator().manual_seed(0))]
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=3)

    def padded(batches):
        return sum(16 * max(lengths[i] for i in b) for b in batches) / sum(lengths)

    first = sampler.batches()
    assert sorted(i for b in first for i in b) == list(range(640))
    sampler.set_epoch(1)
    second = sampler.batches()
    assert sorted(i for b in second for i in b) == list(range(640)) and second != first
    order = torch.randperm(640, generator=torch.Generator().manual_seed(1)).tolist()
    random_batches = [order[i:i + 16] for i in range(0, 640, 16)]
    assert padded(first) < 1.1 < 1.5 < padded(random_batches)
    batch = ClassCollator(pad_token_id=0)([{"input_ids": [5] * lengths[i], "labels": 0} for i in first[1]])
    assert batch["input_ids"].shape[1] == -(-max(lengths[i] for i in first[1]) // 8) * 8
    assert int(batch["attention_mask"].sum()) == sum(lengths[i] for i in first[1])


# --- the switches wired into the runner (python -m train.hf_trainer) ------------------------

def run_hf_trainer(argv: list) -> int:
    from train.hf_trainer import main

    return main([str(a) for a in argv])


def test_runner_padding_free_step_has_the_padded_loss(tiny_model_dir, tmp_path):
    """Same seed, same batches: the first step's loss is the padded run's, and training goes on."""
    data = data_dir(tmp_path, n_train=16, n_eval=4)
    common = ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--max_steps", "2",
              *QUICK, "--group_by_length"]
    assert run_hf_trainer([*common, "--output_dir", tmp_path / "padded"]) == 0
    assert run_hf_trainer([*common, "--output_dir", tmp_path / "packed", "--packing", "padding-free"]) == 0
    padded, packed = log_losses(tmp_path / "padded"), log_losses(tmp_path / "packed")
    assert [s for s, _ in packed] == [1, 2]
    assert abs(padded[0][1] - packed[0][1]) < 1e-3


def test_runner_refuses_what_the_machine_lacks(tiny_model_dir, tmp_path, capsys):
    data = data_dir(tmp_path, n_train=8, n_eval=2)
    base = ["--model_name_or_path", tiny_model_dir, "--train_file", data["train"], "--output_dir", tmp_path / "o",
            *QUICK]
    assert run_hf_trainer([*base, "--use_liger"]) == 2
    assert "tunesmith: error: --use_liger needs the liger-kernel package" in capsys.readouterr().err
    assert run_hf_trainer([*base, "--attn_implementation", "flash_attention_2"]) == 2
    assert "use --attn_implementation sdpa" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        run_hf_trainer([*base, "--packing", "greedy"])
    assert "--packing: invalid choice: 'greedy' (choose from 'none', 'padding-free')" in capsys.readouterr().err


def test_runner_task_seq_cls(tmp_path):
    (tmp_path / "train.txt").write_text("".join(f"{w} zzzz\n{w} qqqq\n" for w in "abcdefgh"))
    (tmp_path / "train.labels").write_text("spam\nham\n" * 8)
    argv = ["--task", "seq-cls", "--model_name_or_path", "scratch-tiny", "--data_dir", tmp_path,
            "--output_dir", tmp_path / "out", "--num_train_epochs", "1", "--quiet"]
    assert run_hf_trainer(argv) == 0
    assert (tmp_path / "out" / "labels.json").is_file() and (tmp_path / "out" / "metrics.json").is_file()


@pytest.mark.slow
def test_benchmark_cpu_mode_writes_its_tables(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--cpu", "--quick",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "train_speed.json").read_text())
    assert result["device"]["device"] == "cpu" and result["versions"]["torch"]
    encoder = result["encoder"]["rows"]
    assert len(encoder) == 7 and encoder[0]["speedup"] == 1.0
    assert all("samples_per_s" in r or "skipped" in r for r in encoder), encoder
    assert encoder[4]["real_tokens"] == encoder[0]["real_tokens"] < encoder[0]["padded_tokens"]
    lm = result["lm"]["rows"]
    assert [(r["method"], r["setup"]) for r in lm][:2] == [("full", "guide"), ("full", "best")]
    assert all("tokens_per_s" in r for r in lm), [r.get("error") for r in lm]
    assert all(r["padded_tokens"] == r["real_tokens"] for r in lm if r["setup"] == "best")
    text = (tmp_path / "train_speed.md").read_text()
    assert "seed's claim" in text and "2.8x / 60%" in text and "MFU = k x N" in text
