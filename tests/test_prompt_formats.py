"""--prompt-format and --system-prompt: the prompt and the response are never glued together unasked,
a template's default system text never slips in unannounced, and every path lays a record out alike."""
from __future__ import annotations

import json
import types
from collections import Counter

import pytest

from prep.core.errors import StageError
from prep.tokenize.arrow_io import read_arrow, read_metadata
from prep.tokenize.encode import TokenizeConfig, encode_records, load_tokenizer
from prep.tokenize.formats import injected_system, resolve

# A template that, like SmolLM2's, writes a system text of its own when no system message is given.
DEFAULT_SYSTEM_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|system|>You are TinyBot, a helpful model.\n{% endif %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}\n"
    "{% else %}<|assistant|>{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")

ALPACA = [{"instruction": "Solve for x.", "input": "3x + 7 = 25", "output": "x = 6"},
          {"instruction": "Name a colour.", "input": "", "output": "Blue."}]


@pytest.fixture(scope="module")
def tok(tokenizers_dir):
    return load_tokenizer(str(tokenizers_dir["bos_eos"]))


@pytest.fixture
def variant(tokenizers_dir, tmp_path):
    """A copy of the bos_eos tokenizer with another chat template (None: no template)."""
    def make(template):
        tokenizer = load_tokenizer(str(tokenizers_dir["bos_eos"]))
        tokenizer.chat_template = template
        folder = tmp_path / f"tok-{abs(hash(template))}"
        tokenizer.save_pretrained(folder)
        return load_tokenizer(str(folder)), folder
    return make


def rendered(tokenizer, records, **config):
    examples = list(encode_records(records, tokenizer, TokenizeConfig(max_length=256, **config), Counter()))
    return [(tokenizer.decode(e["input_ids"]),
             tokenizer.decode([t for t, label in zip(e["input_ids"], e["labels"]) if label != -100]))
            for e in examples]


def test_default_is_the_chat_template_with_the_output_as_the_answer(tok):
    [(text, trained)] = rendered(tok, [{"input": "what is the capital of france?", "output": "paris."}])
    assert "<|user|>what is the capital of france?\n<|assistant|>paris.</s>" in text
    assert trained == "paris.</s>"  # loss on the answer and its EOS only
    as_chat = [{"messages": [{"role": "user", "content": "what is the capital of france?"},
                             {"role": "assistant", "content": "paris."}]}]
    assert rendered(tok, as_chat) == rendered(tok, [{"input": "what is the capital of france?",
                                                     "output": "paris."}])


def test_raw_is_back_to_back_only_when_asked(tok):
    [(text, _)] = rendered(tok, [{"input": "question?", "output": "answer."}], prompt_format="raw")
    assert text == "<s>question?answer.</s>"


def test_alpaca_with_and_without_input_and_the_default_without_a_template(variant):
    plain, _ = variant(None)
    with_input, without = rendered(plain, ALPACA)  # no template: alpaca is the default
    assert "### Instruction:\nSolve for x.\n\n### Input:\n3x + 7 = 25\n\n### Response: " in with_input[0]
    assert with_input[1] == "x = 6</s>"
    assert "### Input:" not in without[0] and "### Instruction:\nName a colour.\n\n### Response: " in without[0]
    with pytest.raises(StageError, match="no chat template"):
        rendered(plain, ALPACA, prompt_format="chat")


def test_alpaca_sections_survive_extraction(tmp_path, cli, tok):
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ALPACA))
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", tmp_path / "x.jsonl", "--quiet")
    assert code == 0, err
    extracted = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert rendered(tok, extracted, prompt_format="alpaca") == rendered(tok, ALPACA, prompt_format="alpaca")


def test_template_file_fills_its_fields(tok):
    [(text, trained)] = rendered(tok, ALPACA[:1], template="Q: {instruction} | {input}\nA: ")
    assert text == "<s>Q: Solve for x. | 3x + 7 = 25\nA: x = 6</s>" and trained == "x = 6</s>"
    with pytest.raises(StageError, match="only {prompt}"):
        rendered(tok, ALPACA[:1], template="{question}")


def test_system_prompt_is_a_visible_choice(variant):
    smol, _ = variant(DEFAULT_SYSTEM_TEMPLATE)
    assert "TinyBot" in injected_system(smol)
    record = [{"input": "hello world", "output": "the quick brown fox"}]
    [(none, _)] = rendered(smol, record)
    [(default, _)] = rendered(smol, record, system_prompt="template-default")
    [(own, _)] = rendered(smol, record, system_prompt="a tiny corpus")
    assert "TinyBot" not in none and none.startswith("<|system|>\n<|user|>hello world")
    assert "TinyBot" in default
    assert "<|system|>a tiny corpus\n<|user|>hello world" in own and "TinyBot" not in own
    assert resolve(smol).strip_default and not resolve(smol, system="template-default").strip_default


def test_stage_says_which_and_stores_it(tmp_path, cli, variant):
    _, folder = variant(DEFAULT_SYSTEM_TEMPLATE)
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ALPACA))
    out = tmp_path / "t.arrow"
    code, stdout, err = cli("prep", "tokenize", "--input", src, "--output", out, "--tokenizer-path", folder)
    assert code == 0, err
    assert "prompt format chat, system prompt none (the template's own default kept out)" in stdout
    meta = read_metadata(out)
    assert meta["prompt_format"] == "chat" and meta["system_prompt"] == "none"
    code, stdout, _ = cli("prep", "inspect", out, "--tokenizer-path", folder, "-n", 0)
    assert code == 0 and "made with: prompt format chat, system prompt none" in stdout
    stats = json.loads((tmp_path / "t.arrow.stats.json").read_text())
    assert stats["prompt_format"] == "chat"


def test_runner_on_the_fly_lays_out_as_the_stage(tmp_path, cli, tokenizers_dir, tok):
    from train.lm.data import load_jsonl

    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ALPACA))
    for fmt in ("auto", "alpaca", "raw"):
        out = tmp_path / f"{fmt}.arrow"
        code, _, err = cli("prep", "tokenize", "--input", src, "--output", out, "--tokenizer-path",
                           tokenizers_dir["bos_eos"], "--prompt-format", fmt, "--quiet")
        assert code == 0, err
        args = types.SimpleNamespace(dataset_format=None, max_length=2048, train_on_source=False,
                                     source_max_len=None, target_max_len=None, prompt_format=fmt,
                                     system_prompt="none", template_file=None)
        fly = load_jsonl(str(src), tok, args, ())
        assert fly["input_ids"] == read_arrow(str(out))["input_ids"], fmt
