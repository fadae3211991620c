"""An EOS the data carries inside an answer is never trained silently; a training set with nothing
to learn is refused; a text cut at max length says so rather than claiming an EOS."""
from __future__ import annotations

import json

import pytest

from prep.core.errors import StageError
from prep.tokenize.arrow_io import read_arrow, write_arrow


def tokenize(cli, tmp_path, records, *flags, name="t.arrow"):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / name
    code, stdout, err = cli("prep", "tokenize", "--input", src, "--output", out, "--quiet", *flags)
    return code, out, err


@pytest.fixture
def bos_eos(tokenizers_dir):
    return tokenizers_dir["bos_eos"]


def test_eos_inside_an_answer_is_rejected_unless_allowed(cli, tmp_path, bos_eos):
    records = [{"id": "mid", "input": "say hello", "output": "hel</s>lo"},
               {"id": "two", "input": "say hello", "output": "hello</s></s>"},
               {"id": "marker", "input": "say <|assistant|>hello", "output": "hello"},
               {"id": "end", "input": "<s>say hello", "output": "hello</s>"}]  # its own BOS and EOS: fine
    code, out, err = tokenize(cli, tmp_path, records, "--tokenizer-path", bos_eos, "--prompt-format", "raw")
    assert code == 0, err
    rejects = [json.loads(line) for line in (tmp_path / "t.arrow.rejected.jsonl").read_text().splitlines()]
    assert {r["record"]["id"]: r["reason"] for r in rejects} == {
        "mid": "special-token-in-text", "two": "special-token-in-text", "marker": "special-token-in-text"}
    assert "'</s>' in the output" in rejects[0]["detail"]
    assert len(read_arrow(str(out))) == 1

    code, out, err = tokenize(cli, tmp_path, records, "--tokenizer-path", bos_eos, "--prompt-format", "raw",
                              "--allow-special-tokens", name="allowed.arrow")
    assert code == 0, err
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", bos_eos, "-n", 0)
    assert code == 1
    assert "eos-inside" in stdout and "1 rows FAIL" in stdout       # "mid"; "two" loses its repeated end
    assert "trained EOS per row: 1 in 3 rows, 2 in 1 rows" in stdout   # "mid" trains two


def test_a_multi_turn_chat_trains_one_eos_per_answer_and_passes(cli, tmp_path, bos_eos):
    chat = {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
                         {"role": "user", "content": "and you?"}, {"role": "assistant", "content": "fine"}]}
    code, out, err = tokenize(cli, tmp_path, [chat], "--tokenizer-path", bos_eos)
    assert code == 0, err
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", bos_eos, "-n", 0)
    assert code == 0 and "trained EOS per row: 2 in 1 rows" in stdout and "all checks passed" in stdout


def test_a_text_cut_at_max_length_has_no_eos_and_inspect_says_so(cli, tmp_path, bos_eos):
    code, out, err = tokenize(cli, tmp_path, [{"text": "the quick brown fox jumps over the lazy dog " * 10}],
                              "--tokenizer-path", bos_eos, "--max-length", 16)
    assert code == 0, err
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", bos_eos, "-n", 0)
    assert code == 0 and "trained EOS per row: 0 in 1 rows" in stdout


def test_runner_refuses_a_set_with_nothing_to_train(tmp_path):
    from train.lm.data import check_trainable

    rows = [{"input_ids": [1, 2, 3], "labels": [-100, -100, -100]}, {"input_ids": [4, 5], "labels": [-100, -100]}]
    path = tmp_path / "masked.arrow"
    write_arrow(rows, path, {})
    with pytest.raises(StageError, match="all 2 rows have every label -100"):
        check_trainable(read_arrow(str(path)), str(path), uft=False)
    check_trainable(read_arrow(str(path)), str(path), uft=True)  # --uft trains on every token


def test_whitespace_a_template_writes_after_a_turn_is_not_trained(tmp_path, tokenizers_dir):
    """A ChatML-like template without generation markers (masked by rendering prefixes): the newline
    after each end-of-turn is not trained, so every trained EOS ends what is trained."""
    from collections import Counter

    from prep.tokenize.checks import Context, Row, eos_inside
    from prep.tokenize.encode import TokenizeConfig, encode_records, load_tokenizer

    tok = load_tokenizer(str(tokenizers_dir["bos_eos"]))
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}</s>\n"
                         "{% else %}<|assistant|>{{ m['content'] }}</s>\n{% endif %}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    chat = {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
                         {"role": "user", "content": "and you?"}, {"role": "assistant", "content": "fine"}]}
    [example] = list(encode_records([chat], tok, TokenizeConfig(max_length=128), Counter()))
    trained = tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100])
    assert trained == "hi</s>fine</s>"
    row = Row(example["input_ids"], example["labels"], None)
    assert eos_inside(row, Context(eos_id=tok.eos_token_id)) is None
