"""`tunesmith export gguf`: llama.cpp's converter writes the file, transformers reads it back with the
source's logits; an adapter is merged first; a failed check leaves no file under the output name."""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentencepiece")


def converter_or_skip():
    from prep.core.errors import StageError
    from train.export import converter
    try:
        return converter.find()
    except StageError as exc:
        pytest.skip(str(exc))


def spm_llama(directory: Path, seed: int = 0) -> Path:
    """A tiny Llama with a SentencePiece tokenizer trained on the fly (Llama-2's kind of tokenizer:
    llama.cpp converts it without needing a known pre-tokenizer hash)."""
    import sentencepiece
    from tiny import CORPUS, make_llama
    from transformers import LlamaTokenizer

    directory.mkdir(parents=True)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=model, vocab_size=400, hard_vocab_limit=False,
        model_type="bpe", character_coverage=1.0, byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        minloglevel=2)
    (directory / "tokenizer.model").write_bytes(model.getvalue())
    tokenizer = LlamaTokenizer.from_pretrained(directory)
    tokenizer.save_pretrained(directory)
    make_llama(directory, tokenizer, seed=seed)
    return directory


def gguf_logits(path: Path, ids):
    from train.export.roundtrip import load_gguf
    model, _ = load_gguf(path)
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export of base + LoRA adapter (f16, merged in fp32), shared by the tests below."""
    from test_merge import make_adapter

    from train.cli import main

    converter_or_skip()
    root = tmp_path_factory.mktemp("export")
    base = spm_llama(root / "base")
    peft_model, tokenizer = make_adapter(base, root / "adapter", {"target_modules": ["q_proj", "v_proj", "down_proj"]})
    out = root / "out"
    code = main(["export", "gguf", "--model", str(base), "--adapter", str(root / "adapter"), "--outtype", "f16",
                 "--merge-dtype", "fp32", "--output", str(out / "tiny-f16.gguf"), "--merged", str(out / "merged")])
    return {"code": code, "root": root, "base": base, "out": out, "peft": peft_model, "tokenizer": tokenizer}


def test_adapter_export_matches_the_peft_model(exported):
    assert exported["code"] == 0
    out, gguf_path = exported["out"], exported["out"] / "tiny-f16.gguf"
    ids = exported["tokenizer"]("what is the capital of france? the capital is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = exported["peft"](input_ids=ids).logits
    got = gguf_logits(gguf_path, ids)
    base = gguf_logits_from_hf(exported["base"], ids)
    scale = expected.std().item()
    assert (got - expected).abs().max().item() < 0.02 * scale            # f16 rounding only
    assert (base - expected).abs().max().item() > 0.1 * scale           # and the adapter is in it
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
    figures = json.loads((out / "tiny-f16.gguf.check.json").read_text())
    assert figures["passed"] and figures["outtype"] == "f16" and figures["positions"] > 20
    assert figures["rel_diff"] <= figures["tolerance"]["rel_diff"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def gguf_logits_from_hf(folder: Path, ids):
    from transformers import AutoModelForCausalLM
    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)(input_ids=ids).logits


def test_gguf_file_is_llama_f16_with_the_vocabulary(exported):
    from gguf import GGMLQuantizationType, GGUFReader

    reader = GGUFReader(exported["out"] / "tiny-f16.gguf")
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "llama"
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == len(exported["tokenizer"])
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == GGMLQuantizationType.F16
    assert len([n for n in types if n.startswith("blk.")]) == 2 * 9  # 2 layers x 9 tensors


def test_cards_written_beside_the_gguf_and_into_the_merged_folder(exported):
    beside = (exported["out"] / "README.md").read_text()
    assert "## GGUF export" in beside and "tiny-f16.gguf" in beside and "top-1 agreement 100.0%" in beside
    merged = exported["out"] / "merged"
    assert (merged / "README.md").is_file() and (merged / "config.json").is_file()


def test_failed_check_exits_1_and_writes_nothing(exported, cli, monkeypatch, tmp_path):
    """The base alone, but the 'converter' hands back the adapter-merged GGUF: the logits differ."""
    from train.export import gguf_export

    monkeypatch.setattr(gguf_export.converter, "convert",
                        lambda source, out, outtype: shutil.copy(exported["out"] / "tiny-f16.gguf", out) and "copied")
    code, out, err = cli("export", "gguf", "--model", exported["base"], "--output", tmp_path / "m.gguf")
    assert code == 1, err
    assert "check FAILED" in out and "not written" in out
    assert os.listdir(tmp_path) == []


def test_setup_errors(exported, cli, tmp_path):
    code, _, err = cli("export", "gguf", "--model", exported["root"] / "adapter", "--output", tmp_path / "m.gguf")
    assert code == 2 and "pass it as --adapter" in err
    code, _, err = cli("export", "gguf", "--model", exported["base"], "--output", tmp_path / "m.bin")
    assert code == 2 and "*.gguf" in err
    code, _, err = cli("export", "gguf", "--model", exported["base"], "--output", exported["out"] / "tiny-f16.gguf")
    assert code == 2 and "already exists" in err
    code, _, err = cli("export", "gguf", "--model", tmp_path / "nothing", "--output", tmp_path / "m.gguf")
    assert code == 2 and "not a model folder" in err
    assert not (tmp_path / "m.gguf").exists()


def test_missing_converter_says_how_to_fetch_it(cli, monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("TUNESMITH_LLAMA_CPP", str(tmp_path / "no-converter"))
    code, _, err = cli("export", "gguf", "--model", tiny_model_dir, "--output", tmp_path / "m.gguf")
    assert code == 2 and "tunesmith export converter" in err


@pytest.mark.slow
def test_q8_0_export_within_its_looser_tolerance(exported, cli, tmp_path):
    code, out, err = cli("export", "gguf", "--model", exported["out"] / "merged", "--outtype", "q8_0",
                         "--output", tmp_path / "tiny-q8.gguf")
    assert code == 0, err
    figures = json.loads((tmp_path / "tiny-q8.gguf.check.json").read_text())
    f16 = json.loads((exported["out"] / "tiny-f16.gguf.check.json").read_text())
    assert figures["passed"] and figures["max_abs_diff"] > f16["max_abs_diff"]  # 8-bit rounds more
    assert (tmp_path / "tiny-q8.gguf").stat().st_size < 0.7 * (exported["out"] / "tiny-f16.gguf").stat().st_size
