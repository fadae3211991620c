"""The scratch encoder: sdpa equals eager, padding is invisible, pre/post norm share weights."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from train_runner_data import one_thread  # noqa: E402, F401  (autouse: one torch thread)

from train.classify.scratch_encoder import EncoderClassifier, EncoderConfig, preset  # noqa: E402


def tiny(**overrides) -> EncoderConfig:
    return preset("scratch-tiny", vocab_size=50, num_labels=3, dropout=0.0, **overrides)


def build(config: EncoderConfig, seed: int = 0) -> EncoderClassifier:
    torch.manual_seed(seed)
    return EncoderClassifier(config).eval()


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 50, (3, 10), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_sdpa_equals_eager(norm, pooling):
    sdpa = build(tiny(norm=norm, pooling=pooling))
    eager = EncoderClassifier(tiny(norm=norm, pooling=pooling, attention="eager")).eval()
    eager.load_state_dict(sdpa.state_dict())
    ids, mask = batch()
    with torch.no_grad():
        a, b = sdpa(ids, mask)["logits"], eager(ids, mask)["logits"]
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_padding_does_not_change_the_pooled_output(attention, pooling):
    model = build(tiny(attention=attention, pooling=pooling))
    ids, mask = batch()
    with torch.no_grad():
        padded = model(ids, mask)["logits"]
        for row, n in enumerate(mask.sum(1).tolist()):
            alone = model(ids[row:row + 1, :n], mask[row:row + 1, :n])["logits"]
            assert torch.allclose(padded[row], alone[0], atol=1e-5)
        # what sits in the padded positions does not matter either
        noisy = ids.masked_fill(mask == 0, 7)
        assert torch.allclose(model(noisy, mask)["logits"], padded, atol=1e-5)


def test_pre_and_post_norm_share_weights_and_differ_where_they_should():
    pre = build(tiny(norm="pre"))
    post = EncoderClassifier(tiny(norm="post")).eval()
    post.load_state_dict(pre.state_dict())  # same parameter names and shapes
    ids, mask = batch()
    with torch.no_grad():
        assert not torch.allclose(pre(ids, mask)["logits"], post(ids, mask)["logits"], atol=1e-3)
        # With every residual branch silenced both reduce to LayerNorm(embeddings) -> head
        # (LayerNorm of a LayerNorm output with unit gain and zero shift is the same, up to its
        # eps of 1e-5, made negligible by scaling the embeddings up from their 0.02 spread).
        for model in (pre, post):
            model.tokens.weight.mul_(50)
            model.positions.weight.mul_(50)
            for block in model.blocks:
                block.attn.out.weight.zero_()
                block.attn.out.bias.zero_()
                block.mlp[2].weight.zero_()
                block.mlp[2].bias.zero_()
        assert torch.allclose(pre(ids, mask)["logits"], post(ids, mask)["logits"], atol=1e-4)


def test_loss_training_step_and_checkpointing():
    model = build(tiny())
    ids, mask = batch()
    labels = torch.tensor([0, 1, 2])
    model.train()
    out = model(ids, mask, labels=labels)
    assert out["logits"].shape == (3, 3) and out["loss"].ndim == 0
    out["loss"].backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.activation_checkpointing_enable()
    model(ids, mask, labels=labels)["loss"].backward()
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, plain[name], atol=1e-6), name


def test_save_and_load_round_trip(tmp_path):
    model = build(tiny(pooling="mean"))
    model.save(tmp_path)
    again = EncoderClassifier.load(tmp_path).eval()
    ids, mask = batch()
    with torch.no_grad():
        assert torch.equal(model(ids, mask)["logits"], again(ids, mask)["logits"])
    assert again.config.pooling == "mean"


def test_config_checks_and_presets():
    base = preset("scratch-base")
    assert (base.hidden, base.layers, base.heads, base.intermediate, base.max_len) == (768, 12, 12, 3072, 512)
    with pytest.raises(ValueError, match="norm"):
        EncoderConfig(norm="sandwich")
    with pytest.raises(KeyError, match="scratch-base"):
        preset("scratch-huge")
    model = build(tiny())
    with pytest.raises(ValueError, match="128 positions"):
        model(torch.zeros((1, 129), dtype=torch.long))
