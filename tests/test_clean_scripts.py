"""`prep clean` and `prep filter` on real text in many scripts (tests/data/scripts, SOURCES.md there).

Each kept field must equal its input up to the changes prep/clean.py documents, computed here on
their own: line ends, NFC, zero-width spaces, word joiners and BOMs out, joiners out only after
ASCII or a space or at a line's start, odd spaces made plain, runs of spaces between words shrunk,
trailing spaces and outer blank lines dropped. Zero-width joiners and non-joiners after a letter,
a sign or an emoji are spelling and must survive byte for byte.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from stage_outputs import outputs, read_jsonl

DATA = Path(__file__).parent / "data" / "scripts"
SAMPLES = sorted(p.name for p in DATA.glob("*.jsonl"))
JOINERS = "\u200c\u200d"


def allowed(text: str) -> str:
    """``text`` with only the documented changes (none of the samples holds code or tables)."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = unicodedata.normalize("NFC", line)
        line = "".join(ch for i, ch in enumerate(line) if not dropped(line, i))
        line = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in line)
        indent = len(line) - len(line.lstrip(" \t"))
        body = line[indent:] if re.match(r"^\s*[\w.-]+:(?:\s|$)", line) else re.sub(r"(?<=\S) {2,}(?=\S)", " ", line[indent:])
        out.append((line[:indent] + body).rstrip(" \t"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def dropped(line: str, i: int) -> bool:
    ch = line[i]
    if ch in "\u200b\u2060\ufeff" or (unicodedata.category(ch) == "Cc" and ch != "\t"):
        return True
    if ch not in JOINERS:
        return False
    before = line[:i].rstrip(JOINERS)
    return not before or before[-1].isspace() or before[-1] < "\x80"


def spelling_joiners(text: str) -> list[tuple[str, str]]:
    """(character, joiner) for every joiner that follows a non-ASCII, non-space character."""
    return re.findall(r"([^\x00-\x7f\s])([\u200c\u200d])", text)


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """{sample name: (input records, kept records, rejected)} after `tunesmith prep clean`."""
    from train.cli import main
    base = tmp_path_factory.mktemp("scripts")
    result = {}
    for name in SAMPLES:
        out = base / name
        assert main(["prep", "clean", "--input", str(DATA / name), "--output", str(out), "--quiet"]) == 0
        kept, rejected, _ = outputs(out)
        result[name] = (read_jsonl(DATA / name), kept, rejected)
    return result


def text_fields(record: dict) -> dict[str, str]:
    return {k: v for k, v in record.items() if k in ("text", "input", "output", "instruction") and isinstance(v, str)}


@pytest.mark.parametrize("name", SAMPLES)
def test_clean_changes_only_what_it_documents(cleaned, name):
    before, kept, rejected = cleaned[name]
    assert not rejected and [r["id"] for r in kept] == [r["id"] for r in before]
    for src, out in zip(before, kept):
        for key, value in text_fields(src).items():
            assert out[key] == allowed(value), (src["id"], key)


@pytest.mark.parametrize("name", SAMPLES)
def test_joiners_after_letters_and_emoji_survive(cleaned, name):
    before, kept, _ = cleaned[name]
    for src, out in zip(before, kept):
        for key, value in text_fields(src).items():
            # NFC may recompose the character before a joiner, never the joiner itself.
            assert len(spelling_joiners(out[key])) == len(spelling_joiners(unicodedata.normalize("NFC", value)))


def record(cleaned, name: str, rid: str) -> tuple[dict, dict]:
    before, kept, _ = cleaned[name]
    return next(r for r in before if r["id"] == rid), next(r for r in kept if r["id"] == rid)


@pytest.mark.parametrize("word", [
    "\u0645\u06cc\u200c\u062f\u0647\u062f",                 # Persian "midahad": mi + ZWNJ + dahad
    "\u06af\u0632\u06cc\u0646\u0647\u200c\u0647\u0627\u06cc",   # Persian "gozine-haye": plural after ZWNJ
    "\u0915\u0928\u094d\u200d\u0928",                        # Hindi "kannada": virama + ZWJ, a half form
    "\u0905\u200d\u0945\u092a",                              # Marathi "app": ZWJ before the candra sign
    "\u0c9f\u0ccd\u200d",                                    # Kannada virama + ZWJ at a word's end
    "\u0dc1\u0dca\u200d\u0dbb\u0dd3",                        # Sinhala "shri" with the rakaransaya ZWJ
    "\u0d28\u0d4d\u200d",                                    # Malayalam chillu n: virama + ZWJ at a word's end
    "\u0d23\u0d4d\u200c",                                    # Malayalam virama + ZWNJ at a word's end
    "\U0001F468\U0001F3FF\u200d\U0001F9B0",                  # man, dark skin tone, red hair
    "\U0001F9D4\U0001F3FF\u200d\u2642\ufe0f",                # man with beard, dark skin tone, male sign, VS16
])
def test_named_joiner_sequences_survive_byte_for_byte(cleaned, word):
    seen = 0
    for before, kept, _ in cleaned.values():
        for src, out in zip(before, kept):
            for key, value in text_fields(src).items():
                n = unicodedata.normalize("NFC", value).count(word)
                assert out[key].count(word) == n, (src["id"], key)
                seen += n
    assert seen, f"{word!r} is in no sample"


def test_malayalam_chillu_before_a_space_keeps_its_joiner(cleaned):
    # "...\u0d2f\u0d28\u0d4d\u200d \u0d38\u0d4d\u0d2a..." (Django's Malayalam "... Spanish"): the
    # joiner before a space makes the chillu letter; without it a reader sees another spelling.
    src, out = record(cleaned, "django_po_pairs.jsonl", "django-ml-9")
    assert "\u0d28\u0d4d\u200d " in src["output"] and out["output"] == src["output"]


def test_hebrew_points_and_greek_accents_are_only_put_in_canonical_order(cleaned):
    before, kept, _ = cleaned["genesis_1_1-5.jsonl"]
    for src, out in zip(before, kept):
        text = src["output"]
        assert out["output"] == unicodedata.normalize("NFC", text)
        # Canonical reordering moves points within a letter, never drops or adds one.
        assert sorted(unicodedata.normalize("NFD", out["output"])) == sorted(unicodedata.normalize("NFD", text))


def test_documented_changes_are_what_changed(cleaned):
    # Pins the differences found in the samples so that a new kind shows up here by name.
    _, out = record(cleaned, "django_po_pairs.jsonl", "django-ur-1")
    assert "\u0622" in out["output"]                      # alef + madda composed by NFC
    src, out = record(cleaned, "django_po_pairs.jsonl", "django-hi-0")
    assert src["output"].endswith("\u00a0") and out["output"] == src["output"][:-1]
    src, out = record(cleaned, "django_po_pairs.jsonl", "django-fa-12")
    assert src["output"][0] == "\u200c" and out["output"] == src["output"][1:]   # a joiner at a line's start


def language_sample(tmp_path: Path, lang: str, key: str) -> Path:
    records = [r for r in read_jsonl(DATA / "django_po_pairs.jsonl") if r["lang"] == lang]
    path = tmp_path / f"{lang}.jsonl"
    path.write_text("".join(json.dumps({"id": r["id"], "input": r["input"], key: r["output"]},
                                       ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["fa", "ml", "ar"])
def test_filter_keeps_answers_in_the_wanted_language(tmp_path, cli, lang):
    src = language_sample(tmp_path, lang, "output")
    out = tmp_path / "out.jsonl"
    code, _, _ = cli("prep", "filter", "--input", src, "--output", out, "--lang", lang, "--quiet")
    kept, rejected, stats = outputs(out)
    assert code == 0 and not rejected and len(kept) == stats["read"]
    assert stats["filter"]["languages"].get(lang, 0) >= 1


def unspaced_texts(lang: str) -> list[str]:
    texts = [r["text"] for r in read_jsonl(DATA / "mmlu_prox_prompts.jsonl") if r["lang"] == lang]
    return texts + [r["output"] for r in read_jsonl(DATA / "django_po_pairs.jsonl") if r["lang"] == lang]


@pytest.mark.parametrize("lang", ["th", "ja"])
def test_scripts_without_spaces_are_not_judged_by_whitespace_words(tmp_path, cli, lang):
    """Thai and Japanese put no spaces between words: whitespace 'words' are phrases (Thai: 13.4
    characters on average, past Gopher's 10), so the rules that count them do not apply. Before,
    a Thai answer went as gopher_mean_word_length and a Japanese page as gopher_word_count."""
    joined = "\n\n".join(unspaced_texts(lang))
    src = tmp_path / f"{lang}.jsonl"
    src.write_text(json.dumps({"id": "answer", "input": "?", "output": joined}, ensure_ascii=False) + "\n"
                   + json.dumps({"id": "page", "text": joined}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = cli("prep", "filter", "--input", src, "--output", out, "--lang", lang, "--quiet")
    kept, rejected, _ = outputs(out)
    assert code == 0 and [r["id"] for r in kept] == ["answer", "page"], rejected
    from prep.filter.rules import chosen_rules
    from prep.filter.text import Measured
    measured = Measured(joined)
    assert measured.unspaced and not Measured(" ".join(["word"] * 60)).unspaced
    # the same text under the word rules as they were: it fails them, so the skip is what keeps it
    rules = [r for r in chosen_rules("gopher,c4,fineweb", "") if r.spaced]
    settings = type("S", (), {p.dest: p.default for r in rules for p in r.params})()
    assert any(r.check(measured, settings) for r in rules)
