"""prep tokenize: masking, BOS/EOS, truncation, chat, packing, the Arrow files, the CLI."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from prep.core.errors import StageError
from prep.tokenize.arrow_io import read_arrow, write_arrow
from prep.tokenize.encode import TokenizeConfig, encode_records, load_tokenizer
from prep.tokenize.masking import IGNORE, detect_specials

FLAVOURS = ("bos_eos", "no_bos", "pad_eq_eos")
QUESTION = "what is the capital of france?\n"
ANSWER = "the capital of france is paris."
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "the sea is wide"}, {"role": "user", "content": "and the fox?"},
        {"role": "assistant", "content": "the quick brown fox"}]


@pytest.fixture(scope="module")
def toks(tokenizers_dir):
    return {flavour: load_tokenizer(tokenizers_dir[flavour]) for flavour in FLAVOURS}


def encode(tok, records, drops=None, **config):
    """Raw prompt format unless a test names another: these tests pin the frame itself."""
    config.setdefault("prompt_format", "raw")
    counters = Counter()
    on_drop = (lambda r, reason, detail: drops.append((reason, detail))) if drops is not None else None
    examples = list(encode_records(records, tok, TokenizeConfig(**config), counters, on_drop=on_drop))
    return examples, counters


def plain(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def trained_runs(tok, example):
    """Decoded runs of consecutive trained tokens."""
    runs, current = [], []
    for token, label in zip(example["input_ids"], example["labels"]):
        if label != IGNORE:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tok.decode(r) for r in runs]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_supervised_frame_and_masking(toks, flavour):
    tok = toks[flavour]
    # BOS and EOS written into the data are not doubled.
    records = [{"id": "q", "input": QUESTION, "output": ANSWER},
               {"id": "r", "input": f"{tok.bos_token or ''}{QUESTION}", "output": ANSWER + tok.eos_token},
               {"id": "s", "input": QUESTION, "output": ANSWER + tok.eos_token + "\n"}]
    examples, _ = encode(tok, records)
    eos, bos = tok.eos_token_id, tok.bos_token_id
    prefix = [bos] if flavour != "no_bos" else []
    expected = prefix + plain(tok, QUESTION) + plain(tok, ANSWER) + [eos]
    for ex in examples:
        ids, labels = ex["input_ids"], ex["labels"]
        assert ids == expected
        assert ids.count(eos) == 1 and ids[-1] == eos and labels[-1] == eos  # also where pad == eos
        masked = len(prefix) + len(plain(tok, QUESTION))
        assert labels[:masked] == [IGNORE] * masked
        assert labels[masked:] == ids[masked:]
        assert tok.decode(ids[masked:-1]) == ANSWER
    if flavour == "no_bos":
        assert bos is None and detect_specials(tok).prefix == ()
    else:
        assert examples[0]["input_ids"][:2] == [bos, plain(tok, QUESTION)[0]]
    assert [ex["id"] for ex in examples] == ["q", "r", "s"]


def test_prompt_generation_and_train_on_source(toks):
    tok = toks["bos_eos"]
    (ex,), _ = encode(tok, [{"prompt": QUESTION, "generation": ANSWER}], train_on_source=True)
    assert ex["labels"] == ex["input_ids"]
    assert ex["input_ids"][-1] == tok.eos_token_id


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("markers", [True, False])
def test_chat_trains_assistant_turns_only(toks, flavour, markers):
    tok = toks[flavour]
    template = tok.chat_template
    if not markers:  # the prefix-rendering path
        tok.chat_template = template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    try:
        (ex,), _ = encode(tok, [{"messages": CHAT + [{"role": "user", "content": "bye"}]}])
    finally:
        tok.chat_template = template
    eos = tok.eos_token
    runs = [r.strip() for r in trained_runs(tok, ex)]
    assert runs == [f"the sea is wide{eos}", f"the quick brown fox{eos}"]
    assert ex["input_ids"][-1] == tok.eos_token_id and ex["labels"][-1] == tok.eos_token_id
    assert "bye" not in tok.decode(ex["input_ids"])  # turns after the last answer teach nothing
    if tok.bos_token_id is not None:
        assert ex["input_ids"][:2].count(tok.bos_token_id) == 1


def test_chat_without_template_names_the_fix(toks):
    tok = toks["bos_eos"]
    template, tok.chat_template = tok.chat_template, None
    try:
        with pytest.raises(StageError, match="--mode supervised"):
            encode(tok, [{"messages": CHAT}])
        (ex,), _ = encode(tok, [{"messages": CHAT}], mode="supervised")
    finally:
        tok.chat_template = template
    assert trained_runs(tok, ex) == ["the quick brown fox</s>"]


def test_long_chat_loses_oldest_exchange(toks):
    tok = toks["no_bos"]
    chat = [CHAT[0], {"role": "user", "content": "hello " * 40}] + CHAT[2:]
    (ex,), counters = encode(tok, [{"messages": chat}], max_length=40)
    assert len(ex["input_ids"]) <= 40 and counters["truncated_chat"] == 1
    text = tok.decode(ex["input_ids"])
    assert "be brief" in text and "hello hello" not in text and text.endswith("the quick brown fox<|endoftext|>")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_truncation_keeps_output_and_cuts_input_from_left(toks, flavour):
    tok = toks[flavour]
    long_input = "the quick brown fox jumps over the lazy dog. " * 6 + "what is the capital of france?"
    (ex,), counters = encode(tok, [{"input": long_input, "output": ANSWER}], max_length=32)
    ids, out = ex["input_ids"], plain(tok, ANSWER)
    assert len(ids) == 32 and counters["truncated_input"] == 1
    assert ids[-len(out) - 1:] == out + [tok.eos_token_id]
    kept_input = ids[len(detect_specials(tok).prefix):-len(out) - 1]
    assert kept_input == plain(tok, long_input)[-len(kept_input):]  # the end of the input survives


def test_output_too_long_is_dropped_with_counts(toks):
    tok = toks["bos_eos"]
    drops = []
    examples, counters = encode(tok, [{"input": QUESTION, "output": ANSWER * 4}], drops=drops, max_length=20)
    assert examples == [] and counters["dropped:output-too-long"] == 1
    (reason, detail), = drops
    assert reason == "output-too-long" and "max_length 20" in detail and str(len(plain(tok, ANSWER * 4))) in detail


def test_source_and_target_caps(toks):
    tok = toks["bos_eos"]
    (ex,), counters = encode(tok, [{"input": QUESTION * 3, "output": ANSWER * 3}],
                             source_max_len=8, target_max_len=6)
    masked = sum(1 for label in ex["labels"] if label == IGNORE)
    assert masked == 8 and len(ex["input_ids"]) - masked == 6
    assert ex["input_ids"][-6:-1] == plain(tok, ANSWER * 3)[:5] and ex["input_ids"][-1] == tok.eos_token_id
    assert counters["truncated_input"] == 1 and counters["truncated_output"] == 1


def test_bad_records_are_dropped_with_reasons(toks):
    drops = []
    records = [{"input": " ", "output": "x"}, {"input": "x", "output": ""}, {"foo": 1}, {"text": ""},
               {"messages": [{"role": "user", "content": "hi"}]}, {"text": 5}]
    examples, _ = encode(toks["bos_eos"], records, drops=drops)
    assert examples == []
    assert [reason for reason, _ in drops] == ["empty-input", "empty-output", "unknown-shape", "empty-text",
                                               "no-assistant-turn", "bad-field"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_text_without_packing(toks, flavour):
    tok = toks[flavour]
    text = "the quick brown fox jumps over the lazy dog"
    examples, counters = encode(tok, [{"text": text}, {"text": text * 5}], max_length=48)
    first, cut = examples
    assert first["input_ids"] == list(detect_specials(tok).prefix) + plain(tok, text) + [tok.eos_token_id]
    assert first["labels"] == first["input_ids"]
    assert len(cut["input_ids"]) == 48 and counters["truncated_text"] == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_packing_boundaries(toks, flavour):
    tok = toks[flavour]
    texts = [f"document {i}: " + "the lazy dog sleeps. " * (i % 4 + 1) for i in range(12)]
    docs = [list(detect_specials(tok).prefix) + plain(tok, t) + [tok.eos_token_id] for t in texts]
    examples, counters = encode(tok, [{"text": t} for t in texts], pack=True, max_length=24)
    stream = [t for ex in examples for t in ex["input_ids"]]
    assert stream == [t for d in docs for t in d]  # every token kept, in order, EOS between documents
    assert all(len(ex["input_ids"]) == 24 for ex in examples[:-1]) and len(examples[-1]["input_ids"]) <= 24
    assert counters["pack_last_block_tokens"] == len(stream) - 24 * (len(examples) - 1)
    assert all(ex["labels"] == ex["input_ids"] and "id" not in ex for ex in examples)


def test_arrow_round_trip_and_file_format(tmp_path, toks):
    import datasets
    import pyarrow as pa

    examples, _ = encode(toks["bos_eos"], [{"input": QUESTION, "output": ANSWER}, {"text": "hello world"}])
    assert write_arrow(examples, tmp_path / "s.arrow") == 2
    ds = datasets.Dataset.from_file(str(tmp_path / "s.arrow"))
    assert ds["input_ids"] == [e["input_ids"] for e in examples] and ds["labels"] == [e["labels"] for e in examples]
    assert ds["length"] == [len(e["input_ids"]) for e in examples]
    assert str(ds.features["input_ids"].feature.dtype) == "int32"
    # The IPC *file* format (int64, no length column), as older tokenizer scripts wrote it.
    table = pa.table({"input_ids": [e["input_ids"] for e in examples], "labels": [e["labels"] for e in examples]})
    (tmp_path / "shards").mkdir()
    for name in ("a", "b"):
        with pa.OSFile(str(tmp_path / "shards" / f"{name}.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    one = read_arrow(tmp_path / "shards" / "a.arrow")
    assert one["input_ids"] == ds["input_ids"] and one["length"] == ds["length"]
    assert len(read_arrow(tmp_path / "shards")) == 4
    with pytest.raises(StageError, match="not an Arrow"):
        (tmp_path / "bad.arrow").write_bytes(b"not arrow at all")
        read_arrow(tmp_path / "bad.arrow")


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_cli_stage_files_and_guide_flags(tmp_path, cli, tokenizers_dir):
    import datasets

    src = write_jsonl(tmp_path / "train.jsonl", [{"id": 1, "input": QUESTION, "output": ANSWER},
                                                  {"id": 2, "input": QUESTION, "output": ANSWER * 9}])
    with open(src, "a") as fh:
        fh.write("{broken\n")
    out = tmp_path / "train.arrow"
    code, stdout, err = cli("prep", "tokenize", "--input_file", src, "--output_file", out, "--tokenizer_path",
                            tokenizers_dir["pad_eq_eos"], "--max_length", 40, "--prompt_format", "raw", "--quiet")
    assert code == 0, err
    assert len(datasets.Dataset.from_file(str(out))) == 1
    stats = json.loads((tmp_path / "train.arrow.stats.json").read_text())
    assert stats["read"] == 3 and stats["kept"] == 1 and stats["errors"] == 1
    assert stats["dropped"] == {"output-too-long": 1} and stats["examples"] == 1
    assert stats["tokenizer"]["eos_id"] == stats["tokenizer"]["pad_id"]
    assert {"p50", "p90", "p99", "max"} <= set(stats["length"]) and stats["label_tokens"] > 0
    rejects = [json.loads(line) for line in (tmp_path / "train.arrow.rejected.jsonl").read_text().splitlines()]
    assert {r["where"] for r in rejects} == {f"{src}:2", f"{src}:3"}


def test_num_proc_gives_identical_bytes(tmp_path, cli, tokenizers_dir):
    records = []
    for i in range(240):
        records.append({"id": i, "input": f"question {i}: " + QUESTION, "output": ANSWER * (i % 3 + 1)})
        records.append({"text": f"text {i} " + "the lazy dog. " * (i % 5)})
        records.append({"messages": CHAT[: 3 + 2 * (i % 2)]})
    src = write_jsonl(tmp_path / "in.jsonl", records)
    for n in (1, 2):
        code, _, err = cli("prep", "tokenize", "--input", src, "--output", tmp_path / f"n{n}.arrow",
                           "--tokenizer-path", tokenizers_dir["bos_eos"], "--max-length", 48, "--pack",
                           "--num-proc", n, "--batch-size", 64, "--quiet")
        assert code == 0, err
    assert (tmp_path / "n1.arrow").read_bytes() == (tmp_path / "n2.arrow").read_bytes()
    assert (tmp_path / "n1.arrow.rejected.jsonl").read_bytes() == (tmp_path / "n2.arrow.rejected.jsonl").read_bytes()


def test_added_special_tokens_are_single_tokens(tmp_path, tokenizers_dir):
    tok = load_tokenizer(tokenizers_dir["bos_eos"], ("<|model|>",))
    (ex,), _ = encode(tok, [{"input": "hello<|model|>", "output": "world"}], add_special_tokens=("<|model|>",))
    assert tok.convert_tokens_to_ids("<|model|>") in ex["input_ids"]
    with pytest.raises(StageError, match="no such folder"):
        load_tokenizer(tmp_path / "missing")


def test_template_that_refuses_a_chat_drops_it(toks):
    tok = toks["no_bos"]
    template = tok.chat_template
    tok.chat_template = ("{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('must start with a user') }}"
                         "{% endif %}" + template)
    drops = []
    try:
        examples, _ = encode(tok, [{"messages": CHAT[2:3]}, {"messages": CHAT[1:3]}], drops=drops)
    finally:
        tok.chat_template = template
    assert len(examples) == 1 and drops[0][0] == "chat-template-error" and "must start with a user" in drops[0][1]


def test_missing_tokenizer_folder_says_so(tmp_path, cli):
    src = write_jsonl(tmp_path / "in.jsonl", [{"input": "q", "output": "a"}])
    code, _, err = cli("prep", "tokenize", "--input", src, "--output", tmp_path / "o.arrow",
                       "--tokenizer-path", tmp_path / "no-such-model")
    assert code == 2
    assert "no such folder" in err and "nothing is downloaded" in err and "Repo id" not in err
    assert not (tmp_path / "o.arrow").exists()
