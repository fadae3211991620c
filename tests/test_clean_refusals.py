"""The refusal filter of `prep clean`, measured on labelled real responses.

tests/data/refusals/ holds ShareGPT replies, XSTest completions and SDK example files, each
labelled "refusal" or "keep" by reading it (SOURCES.md there gives the sources, the labelling
rules and which part was looked at while the rules were written). The real stage runs through
its CLI on each part; the records it rejects with reason "refusal" are its predictions.
"""
import json
import re
from pathlib import Path

from stage_outputs import outputs

from prep.clean import prose_of
from prep.refusals import find, load_rules

DATA = Path(__file__).parent / "data" / "refusals"
# dev: read while the rules were written; the others were labelled before the rules saw them.
PARTS = ("dev", "holdout", "fresh", "fresh2")
DETAIL = re.compile(r"^(?:self-ai|self-limits|decline|missing-input|apology-only|phrase from \S+): matched .+$")


def labelled(part: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{part}.jsonl").read_text(encoding="utf-8").splitlines()]


def flagged_by_clean(cli, tmp_path, part: str, *flags) -> tuple[set, list[dict]]:
    out = tmp_path / f"{part}.jsonl"
    code, _, err = cli("prep", "clean", "--input", DATA / f"{part}.jsonl", "--output", out, "--quiet", *flags)
    assert code == 0, err
    kept, rejected, stats = outputs(out)
    assert stats["read"] == len(kept) + len(rejected)
    return {r["record"]["id"] for r in rejected if r["reason"] == "refusal"}, rejected


def test_precision_and_recall_on_the_labelled_set(tmp_path, cli):
    lines, total = [], {"tp": 0, "fp": 0, "fn": 0}
    for part in PARTS:
        records = labelled(part)
        flagged, rejected = flagged_by_clean(cli, tmp_path, part)
        assert all(DETAIL.match(r["detail"]) for r in rejected if r["reason"] == "refusal")
        refusals = {r["id"] for r in records if r["label"] == "refusal"}
        counts = {"tp": len(flagged & refusals), "fp": len(flagged - refusals), "fn": len(refusals - flagged)}
        for key in total:
            total[key] += counts[key]
        precision = counts["tp"] / (counts["tp"] + counts["fp"])
        recall = counts["tp"] / (counts["tp"] + counts["fn"])
        lines.append(f"{part:8} {len(records):4} records  precision {precision:.3f}  recall {recall:.3f}")
        # Each part alone, with room for a few records either way.
        assert precision >= 0.9 and recall >= 0.85, lines[-1]
    precision = total["tp"] / (total["tp"] + total["fp"])
    recall = total["tp"] / (total["tp"] + total["fn"])
    print("\n".join([*lines, f"all      precision {precision:.3f}  recall {recall:.3f}  {total}"]))
    assert sum(len(labelled(p)) for p in PARTS) >= 400
    assert precision >= 0.95 and recall >= 0.90


def test_code_naming_ai_vendors_is_kept_and_keep_refusals_keeps_all(tmp_path, cli):
    vendor_code = {r["id"] for r in labelled("dev") if r["pool"] == "vendor-code"}
    assert len(vendor_code) >= 10
    flagged, _ = flagged_by_clean(cli, tmp_path, "dev")
    assert not flagged & vendor_code
    flagged, rejected = flagged_by_clean(cli, tmp_path, "dev", "--keep-refusals")
    assert not flagged and not rejected


def test_context_decides_whose_voice_it_is():
    rules = load_rules()
    refusal = "I'm sorry, but I can't help with that."
    assert find(prose_of(refusal), rules) == "decline: matched \"I'm sorry, but I can't help\""
    # Inside code, inside quotation marks, in a letter or in a staged scene it is someone else's.
    assert find(prose_of(f"```python\nprint(\"{refusal}\")\n# As an AI language model\n```"), rules) is None
    assert find(prose_of(f'The guard said: "{refusal}" and left.'), rules) is None
    assert find(prose_of(f"Dear Ms Lee,\n\nThank you for the offer. {refusal}\n\nBest, Sam"), rules) is None
    assert find(prose_of(f"{refusal} (I step back and fold my arms.)"), rules) is None
    # A story was asked for: only the first paragraph is the assistant's own.
    story = "Here is the story.\n\nThe robot blinked. I am programmed to obey, it thought."
    assert find(prose_of(story), rules, "Write a story about a robot") is None
    assert find(prose_of(story), rules, "What is a robot?").startswith("self-ai:")
    # The assistant on itself counts anywhere, a figure of speech does not.
    assert find(prose_of("Paris. As of my knowledge cutoff in 2021 it had 2.1M people."), rules).startswith(
        "self-limits:")
    assert find(prose_of("I can't stress enough how useful this is."), rules) is None


def test_phrase_file_rules_match_at_word_boundaries_and_openings(tmp_path, cli):
    extra = tmp_path / "phrases.txt"
    extra.write_text("# site rules\nbanana protocol\n^per our policy\n", encoding="utf-8")
    src = tmp_path / "in.jsonl"
    records = [{"id": 1, "input": "q", "output": "Under the Banana  Protocol we stop."},
               {"id": 2, "input": "q", "output": "Per our policy, no."},
               {"id": 3, "input": "q", "output": "This is not per our policy at all."},
               {"id": 4, "input": "q", "output": "The bananaprotocols file is fine."}]
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert cli("prep", "clean", "--input", src, "--output", out, "--phrases", extra, "--quiet")[0] == 0
    kept, rejected, _ = outputs(out)
    assert [r["id"] for r in kept] == [3, 4]
    assert [r["detail"] for r in rejected] == ["phrase from phrases.txt: matched 'Banana Protocol'",
                                               "phrase from phrases.txt: matched 'Per our policy'"]
