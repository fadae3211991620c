"""`prep filter` as a user runs it: real instruction sets pass through untouched, noise is named."""
import json
from pathlib import Path

import pytest
from stage_outputs import outputs

from prep.filter.rules import DEFAULT_SKIPPED, FAMILIES, rule_table

DATA = Path(__file__).parent / "data"
REAL = sorted((DATA / "layouts").glob("*.json*")) + sorted((DATA / "code").glob("*.jsonl"))


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def run_filter(cli, src, out, *flags):
    return cli("prep", "filter", "--input", src, "--output", out, "--quiet", *flags)


def test_every_rule_is_named_once_with_a_reason_and_a_known_set():
    names = [rule.name for rule in rule_table()]
    assert len(names) == len(set(names)) >= 18
    for rule in rule_table():
        assert rule.family in FAMILIES and rule.name.startswith(rule.family + "_")
        assert rule.scope in ("all", "text") and len(rule.why) > 20


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_instruction_sets_keep_every_good_record_unchanged(tmp_path, cli, path):
    # Rules only (no PII masking): what is kept must be the input record, key for key.
    out = tmp_path / "out.jsonl"
    code, _, _ = run_filter(cli, path, out, "--pii", "keep", "--text-records", "answer")
    if code == 2:   # nothing kept: only acceptable when every record was noise or broken
        pytest.fail(f"{path.name}: filter kept nothing")
    kept, rejected, stats = outputs(out)
    originals = {}
    if path.suffix == ".json" and path.read_text(encoding="utf-8").lstrip().startswith("["):
        originals = {i: r for i, r in enumerate(json.loads(path.read_text(encoding="utf-8")), 1)}
    for record in kept:
        assert "meta" not in record or isinstance(record["meta"], dict)
    if originals:
        # JSON arrays: every kept record equals one input record exactly
        assert all(record in originals.values() for record in kept)
    # The known noise of these files (a degenerate loop in the hostile chat file) is all that
    # goes; the drop rate on real curated sets stays small.
    assert len(rejected) <= max(2, 0.05 * stats["read"]), [(r["reason"], r["detail"]) for r in rejected]


def test_short_text_records_are_pages_unless_told_they_are_answers(tmp_path, cli):
    # WikiSQL prompts kept as text: under Gopher's 50 words, so as web pages they all go (exit 2,
    # the stats name the rule); judged as answers they all stay.
    src = DATA / "layouts" / "text.jsonl"
    out = tmp_path / "out.jsonl"
    code, _, err = run_filter(cli, src, out, "--pii", "keep")
    assert code == 2 and "gopher_word_count" in err
    assert run_filter(cli, src, out, "--pii", "keep", "--text-records", "answer")[0] == 0
    kept, _, stats = outputs(out)
    assert len(kept) == stats["read"] == sum(1 for _ in src.open())


def test_degenerate_repetition_in_an_answer_is_dropped_with_its_rule(tmp_path, cli):
    loop = "I will always help you with that. " * 30
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "instruction": "Say something kind.", "output": loop},
        {"id": 2, "instruction": "Capital of France?", "output": "Paris."},
        {"id": 3, "instruction": "Lorem", "output": "Lorem ipsum dolor sit amet, consectetur adipiscing."},
        {"id": 4, "instruction": "Write HTML", "output": "```html\n<p>Lorem ipsum dolor sit amet</p>\n```"},
    ])
    out = tmp_path / "out.jsonl"
    assert run_filter(cli, src, out)[0] == 0
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == [2, 4]     # lorem ipsum inside code is not judged
    reasons = {r["record"]["id"]: r["reason"] for r in rejected}
    assert reasons[1].startswith("gopher_") and reasons[3] == "c4_lorem_ipsum"
    assert all(r["where"] == f"{src}:{r['record']['id']}" for r in rejected)
    assert stats["filter"]["exempt_code"] == 1


def test_page_rules_judge_text_records_only(tmp_path, cli):
    menu = "\n".join(["Home", "About us", "Products", "Contact", "Login", "Cart"] * 3)
    src = write(tmp_path / "in.jsonl", [
        {"id": "page", "text": menu + "\n" + "word " * 60},
        {"id": "answer", "instruction": "List capitals", "output": "\n".join(f"- {country}: {city}" for country, city in [
            ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Peru", "Lima"),
            ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("Egypt", "Cairo"), ("Iran", "Tehran"),
            ("Cuba", "Havana"), ("Mali", "Bamako"), ("Laos", "Vientiane"), ("Fiji", "Suva"), ("Oman", "Muscat"),
            ("Iraq", "Baghdad"), ("Chad", "N'Djamena"), ("Togo", "Lome"), ("Niger", "Niamey"), ("Nepal", "Kathmandu"),
            ("Qatar", "Doha"), ("Yemen", "Sanaa"), ("Gabon", "Libreville"), ("Ghana", "Accra"), ("Haiti", "Port-au-Prince"),
            ("India", "New Delhi"), ("Malta", "Valletta"), ("Syria", "Damascus")])},
    ])
    out = tmp_path / "out.jsonl"
    assert run_filter(cli, src, out)[0] == 0
    kept, rejected, _ = outputs(out)
    assert [r["id"] for r in kept] == ["answer"]
    assert rejected[0]["reason"].startswith(("gopher_", "fineweb_"))


def test_rule_sets_and_thresholds_are_flags(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [{"id": 1, "text": "Lorem ipsum dolor sit amet. " * 20}])
    out = tmp_path / "out.jsonl"
    assert run_filter(cli, src, out, "--rules", "none")[0] == 0
    assert outputs(out)[0][0]["id"] == 1
    code, _, err = run_filter(cli, src, out, "--rules", "gopher,c5")
    assert code == 2 and "unknown set(s) c5" in err and "gopher, c4, fineweb" in err
    code, _, err = run_filter(cli, src, out, "--skip-rules", "c4_lorem")
    assert code == 2 and "c4_lorem_ipsum" in err
    # Everything dropped: exit 2, and the files say why.
    code, _, err = run_filter(cli, src, out, "--rules", "c4")
    assert code == 2
    assert json.loads((tmp_path / "out.jsonl.stats.json").read_text())["dropped"] == {"c4_lorem_ipsum": 1}


def test_pii_is_masked_in_every_text_field_and_counted(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "messages": [{"role": "user", "content": "Mail me at jane.doe@gmail.com please"},
                               {"role": "assistant", "content": "Sure, I will write to you."}],
         "extra": {"untouched": "jane.doe@gmail.com"}},
        {"id": 2, "instruction": "Say hi", "output": "Hi!"},
    ])
    out = tmp_path / "out.jsonl"
    assert run_filter(cli, src, out)[0] == 0
    kept, _, stats = outputs(out)
    assert kept[0]["messages"][0]["content"] == "Mail me at <EMAIL> please"
    assert kept[0]["extra"] == {"untouched": "jane.doe@gmail.com"}   # not a text field: not ours
    assert kept[1] == {"id": 2, "instruction": "Say hi", "output": "Hi!"}
    assert stats["pii_found"] == {"email": 1}
    assert run_filter(cli, src, out, "--pii", "drop")[0] == 0
    kept, rejected, _ = outputs(out)
    assert [r["id"] for r in kept] == [2] and rejected[0]["reason"] == "pii"


def test_the_readme_lists_every_rule_as_the_code_has_it():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for rule in rule_table():
        flags = ", ".join(f"`{p.flag}` {p.default}" for p in rule.params) or "-"
        scope = {"all": "answers and pages", "text": "pages"}[rule.scope]
        scope += " (off by default)" if rule.name in DEFAULT_SKIPPED else ""
        assert f"| `{rule.name}` | {scope} | {flags} | {rule.why} |" in readme, rule.name


def test_language_judges_the_answer_but_keeps_translation_tasks(tmp_path, cli):
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "instruction": "Translate the sentence into French.\n\nThe library opens at nine.",
         "output": "La bibliothèque ouvre à neuf heures du matin."},
        {"id": 2, "instruction": "Wie spät ist es in Berlin, wenn es in London Mittag ist?",
         "output": "Wenn es in London Mittag ist, ist es in Berlin ein Uhr nachmittags."},
        {"id": 3, "instruction": "Capital of France?", "output": "Paris."},
        {"id": 4, "text": "Die Bibliothek öffnet um neun Uhr morgens und schließt am Abend um acht Uhr."},
    ])
    out = tmp_path / "out.jsonl"
    assert run_filter(cli, src, out, "--lang", "en")[0] == 0
    kept, rejected, stats = outputs(out)
    assert [r["id"] for r in kept] == [1, 3]
    assert {r["record"]["id"]: r["reason"] for r in rejected} == {2: "language", 4: "language"}
    assert rejected[0]["detail"].startswith("de (") and rejected[0]["detail"].endswith("wanted en")
    assert stats["filter"]["answer_in_other_language"] == 1
    code, _, err = run_filter(cli, src, out, "--lang", "english")
    assert code == 2 and "english is not a language code" in err
