"""--task seq-cls on CPU: the seed's text/label layout, train_model(config), JSONL with a decoder."""
from __future__ import annotations

import json
import random
import types
from dataclasses import dataclass

import pytest

torch = pytest.importorskip("torch")

from train_runner_data import one_thread  # noqa: E402, F401  (autouse: one torch thread)

from prep.core.errors import StageError  # noqa: E402
from train.classify.config import ClassifierConfig, config_from  # noqa: E402
from train.classify.data import label_map, split_files  # noqa: E402
from train.classify.run import main  # noqa: E402

FILLER = "the a of and to in it is on for with as at by this that from or".split()


def separable(n: int, seed: int) -> list[tuple[str, str]]:
    """Two classes told apart by a marker word among random filler."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("spam", "ham")[i % 2]
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        words.insert(rng.randint(0, len(words)), "zzzz" if label == "spam" else "qqqq")
        rows.append((" ".join(words), label))
    return rows


def write_plain(directory, name: str, rows) -> None:
    (directory / f"{name}.txt").write_text("".join(t + "\n" for t, _ in rows), encoding="utf-8")
    (directory / f"{name}.labels").write_text("".join(label + "\n" for _, label in rows), encoding="utf-8")


@pytest.fixture
def seed_layout(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_plain(data, "train", separable(48, 0))
    write_plain(data, "validation", separable(20, 1))
    return data


FAST = ["--model_name_or_path", "scratch-tiny", "--pooling", "mean", "--num_train_epochs", "3",
        "--learning_rate", "5e-3", "--per_device_train_batch_size", "8", "--max_length", "64",
        "--dropout", "0", "--logging_steps", "100", "--quiet"]


def test_flags_with_the_seed_layout(seed_layout, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([*FAST, "--data_dir", str(seed_layout), "--output_dir", str(out), "--group_by_length"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_examples"] == 20 and metrics["train_examples"] == 48
    assert metrics["accuracy"] > 0.75  # chance is 0.5
    assert json.loads((out / "labels.json").read_text()) == {"0": "ham", "1": "spam"}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 20 and {"id", "label", "predicted"} <= set(predictions[0])
    stats = json.loads((out / "predictions.jsonl.stats.json").read_text())
    assert stats["read"] == stats["kept"] == 68
    assert (out / "model.safetensors").is_file() and (out / "encoder_config.json").is_file()


def test_train_model_with_a_module_and_a_dataclass(seed_layout, tmp_path):
    from train import train_model

    config = types.ModuleType("config")  # what the seed's config.py looks like
    config.MODEL_NAME, config.DATA_DIR, config.OUTPUT_DIR = "scratch-tiny", str(seed_layout), str(tmp_path / "a")
    config.EPOCHS, config.BATCH_SIZE, config.LEARNING_RATE, config.MAX_LENGTH = 3, 8, 5e-3, 64
    config.POOLING, config.DROPOUT, config.QUIET, config.LOGGING_STEPS = "mean", 0.0, True, 100
    config.json = json  # modules and callables in a config module are ignored
    metrics = train_model(config)
    assert metrics["accuracy"] > 0.75
    assert (tmp_path / "a" / "metrics.json").is_file()

    @dataclass
    class Config:
        model_name_or_path: str = "scratch-tiny"
        train_file: str = str(seed_layout / "train.txt")
        output_dir: str = str(tmp_path / "b")
        num_train_epochs: float = 1
        quiet: bool = True

    metrics = train_model(Config())
    assert metrics["eval_examples"] == 0 and "accuracy" not in metrics
    assert (tmp_path / "b" / "predictions.jsonl").read_text() == ""


def test_decoder_with_jsonl(tiny_model_dir, tmp_path):
    """A transformers causal LM gets its sequence-classification head (Llama pools the last token)."""
    rows = separable(16, 2)
    for name, part in (("train.jsonl", rows), ("eval.jsonl", rows[:6])):
        (tmp_path / name).write_text("".join(json.dumps({"id": i, "text": t, "topic": lab}) + "\n"
                                             for i, (t, lab) in enumerate(part)))
    out = tmp_path / "out"
    code = main(["--model_name_or_path", str(tiny_model_dir), "--train_file", str(tmp_path / "train.jsonl"),
                 "--eval_file", str(tmp_path / "eval.jsonl"), "--label_key", "topic", "--output_dir", str(out),
                 "--num_train_epochs", "1", "--per_device_train_batch_size", "8", "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attn_implementation"] == "sdpa" and metrics["eval_examples"] == 6
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == ["LlamaForSequenceClassification"] and saved["id2label"]["1"] == "spam"


def test_setup_errors_name_what_exists(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x\n")
    with pytest.raises(StageError, match="no training split.*notes.txt"):
        split_files(str(tmp_path), None, None)
    with pytest.raises(StageError, match="--train_file"):
        split_files(None, None, None)
    with pytest.raises(StageError, match="two or more"):
        label_map(["a", "a"])
    assert label_map([10, 2, 1]) == [1, 2, 10]
    write_plain(tmp_path, "train", [("a b", "x"), ("c d", "y")])
    write_plain(tmp_path, "dev", [("a b", "z")])
    assert split_files(str(tmp_path), None, None) == (str(tmp_path / "train.txt"), str(tmp_path / "dev.txt"))
    code = main(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "labels not seen in training: z" in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_seed_names_map_to_flags(capsys):
    cfg = config_from({"EPOCHS": 2, "batch_size": 4, "lr": 0.1, "Model_Name": "scratch", "colour": "red"})
    assert (cfg.num_train_epochs, cfg.per_device_train_batch_size, cfg.learning_rate) == (2, 4, 0.1)
    assert cfg.model_name_or_path == "scratch"
    assert "colour" in capsys.readouterr().err
    assert config_from(cfg) is cfg and isinstance(cfg, ClassifierConfig)
