"""--packing padding-free: the same loss and gradients as the padded batch, on CPU."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tiny import make_llama  # noqa: E402
from train_runner_data import one_thread  # noqa: E402, F401  (autouse: one torch thread)

from train.lm.collate import IGNORE_INDEX, PadCollator  # noqa: E402
from train.lm.packing import PaddingFreeCollator, make_collator, prepare_model, real_tokens  # noqa: E402


def examples(seed: int = 0, lengths=(5, 11, 3, 8)) -> list[dict]:
    """Examples of different lengths; the first two tokens of each are prompt (label -100)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(5, 300, (n,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX, IGNORE_INDEX] + ids[2:], "length": n})
    return out


@pytest.fixture(scope="module")
def model():
    m = make_llama(vocab_size=300, seed=1)
    m.config._attn_implementation = "sdpa"
    prepare_model(m)
    return m.float().eval()


def loss_and_grads(model, batch: dict):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_collator_layout():
    batch = PaddingFreeCollator()(examples(lengths=(3, 2)))
    assert batch["input_ids"].shape == (1, 5)
    assert "attention_mask" not in batch
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    # the first token of each example is never a target; the rest keep their labels
    assert batch["labels"][0, 0].item() == IGNORE_INDEX and batch["labels"][0, 3].item() == IGNORE_INDEX
    assert real_tokens(batch) == 5


def test_uft_labels_come_from_input_ids():
    feats = examples(lengths=(4, 3))
    batch = PaddingFreeCollator(labels_from_input_ids=True)(feats)
    ids = feats[0]["input_ids"] + feats[1]["input_ids"]
    assert batch["labels"][0].tolist() == [IGNORE_INDEX] + ids[1:4] + [IGNORE_INDEX] + ids[5:]


def test_flash_kwargs_mark_boundaries():
    batch = make_collator("padding-free", 0, attn_implementation="flash_attention_2")(examples(lengths=(3, 4)))
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 7] and batch["max_length_q"] == 4


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_padding_free_loss_and_grads_equal_padded(model, attn):
    model.config._attn_implementation = attn
    feats = examples()
    padded = PadCollator(pad_token_id=0, pad_to_multiple_of=8)(feats)
    packed = PaddingFreeCollator()(feats)
    assert real_tokens(padded) == real_tokens(packed) == sum(f["length"] for f in feats)
    loss_pad, grads_pad = loss_and_grads(model, padded)
    loss_pack, grads_pack = loss_and_grads(model, packed)
    assert abs(loss_pad - loss_pack) < 1e-3
    for name, grad in grads_pad.items():
        assert torch.allclose(grad, grads_pack[name], atol=1e-5, rtol=1e-3), name


def test_attention_stays_inside_each_example(model):
    """The logits of an example do not depend on what was packed before it."""
    model.config._attn_implementation = "sdpa"
    feats = examples(lengths=(6, 7))
    other = examples(seed=5, lengths=(9, 7))
    other[1] = feats[1]
    with torch.no_grad():
        a = model(**PaddingFreeCollator()(feats)).logits[0, 6:]
        b = model(**PaddingFreeCollator()(other)).logits[0, 9:]
    assert torch.allclose(a, b, atol=1e-5)
