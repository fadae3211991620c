"""`prep extract jsonl --format oasst`: OpenAssistant message rows joined into conversations.

The real sample is two whole oasst1 trees (tests/data/roundtrip/oasst1_message_rows.jsonl, see
SOURCES.md there); the broken trees are written here, one fault each.
"""
from __future__ import annotations

import json
from pathlib import Path

from stage_outputs import outputs, read_jsonl

ROWS = Path(__file__).parent / "data" / "roundtrip" / "oasst1_message_rows.jsonl"


def rows() -> list[dict]:
    return [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines()]


def extract(cli, src: Path, out: Path, *extra) -> tuple[int, str]:
    code, _, err = cli("prep", "extract", "jsonl", "--input", src, "--output", out, "--format", "oasst",
                       "--quiet", *extra)
    return code, err


def check_path(conversation: dict, by_id: dict) -> None:
    """Each turn replies to the one before, roles alternate from the user, texts are the rows'."""
    ids = conversation["meta"]["message_ids"]
    assert by_id[ids[0]]["parent_id"] is None and conversation["messages"][-1]["role"] == "assistant"
    for before, after in zip(ids, ids[1:]):
        assert by_id[after]["parent_id"] == before
    for turn, message_id in zip(conversation["messages"], ids):
        row = by_id[message_id]
        assert turn == {"role": "user" if row["role"] == "prompter" else "assistant", "content": row["text"]}


def test_top_paths_follow_the_best_ranked_reply_of_each_real_tree(cli, tmp_path):
    source = rows()
    by_id = {r["message_id"]: r for r in source}
    code, err = extract(cli, ROWS, tmp_path / "top.jsonl")
    assert code == 0, err
    kept, rejected, stats = outputs(tmp_path / "top.jsonl")
    assert [c["id"] for c in kept] == [r["message_tree_id"] for r in source if r["parent_id"] is None]
    for conversation in kept:
        check_path(conversation, by_id)
        # at every assistant turn, the reply chosen is rank 0 among its siblings
        for message_id in conversation["meta"]["message_ids"]:
            row = by_id[message_id]
            if row["role"] == "assistant":
                siblings = [r["rank"] for r in source if r["parent_id"] == row["parent_id"] and r["role"] == "assistant"]
                assert row["rank"] == min(siblings) == 0
    assert [len(c["messages"]) for c in kept] == [4, 2]
    assert (stats["read"], stats["kept"], stats["dropped"], stats["conversations"]) == \
        (17, 6, {"not-on-a-path": 11}, 2)
    on_paths = {i for c in kept for i in c["meta"]["message_ids"]}
    assert {r["record"]["message_id"] for r in rejected} == set(by_id) - on_paths
    assert all(r["where"] == f"{ROWS}:{[x['message_id'] for x in source].index(r['record']['message_id']) + 1}"
               for r in rejected)


def test_all_paths_are_every_answered_branch_once(cli, tmp_path):
    source = rows()
    by_id = {r["message_id"]: r for r in source}
    code, err = extract(cli, ROWS, tmp_path / "all.jsonl", "--oasst-paths", "all")
    assert code == 0, err
    kept, rejected, stats = outputs(tmp_path / "all.jsonl")
    for conversation in kept:
        check_path(conversation, by_id)
    # a conversation ends at every assistant row with no answered prompt below it, once each;
    # the one unanswered prompt (under f06f4f73) is dropped
    def replies(message_id):
        return [r["message_id"] for r in source if r["parent_id"] == message_id]
    ends = sorted(r["message_id"] for r in source if r["role"] == "assistant"
                  and not any(replies(child) for child in replies(r["message_id"])))
    assert sorted(c["meta"]["message_ids"][-1] for c in kept) == ends and len(ends) == 10
    assert [(r["reason"], r["record"]["message_id"][:8]) for r in rejected] == [("not-on-a-path", "8aa06467")]
    assert (stats["read"], stats["kept"], stats["conversations"]) == (17, 16, 10)
    assert len({c["id"] for c in kept}) == 10


def row(message_id, parent, role, text="some text", **extra) -> dict:
    return {"message_id": message_id, "parent_id": parent, "role": role, "text": text, **extra}


def test_broken_trees_drop_each_fault_with_its_branch_and_reason(cli, tmp_path):
    src = tmp_path / "broken.jsonl"
    good = [row("r1", None, "prompter", "Why is the sky blue?", message_tree_id="t1", lang="en"),
            row("a1", "r1", "assistant", "Rayleigh scattering.\n\n    indented stays", rank=1),
            row("a0", "r1", "assistant", "Short answer: scattering.", rank=0),
            row("u2", "a0", "prompter", "More?"),
            row("a2", "u2", "assistant", "Blue light scatters more.", rank=0)]
    faults = [row("d1", "r1", "assistant", "gone", deleted=True),                # deleted
              row("x1", "d1", "prompter", "under a deleted reply"),              # its branch
              row("v1", "r1", "assistant", "bad", review_result=False),          # failed review
              row("o1", "nowhere", "assistant", "orphan"),                       # parent not in input
              row("s1", "a0", "assistant", "assistant under assistant"),         # role order
              row("b1", None, "assistant", "an assistant root"),                 # bad root
              row("a0", "r1", "assistant", "same id again"),                     # duplicate id
              row("e1", "r1", "assistant", "   "),                               # empty text
              {"message_id": "k1", "role": "prompter", "text": "no parent key"},  # missing key
              row("p1", "p2", "prompter", "loop"), row("p2", "p1", "assistant", "loop"),
              row("q1", None, "prompter", "Never answered.")]                    # no answer
    lines = [json.dumps(r) for r in good[:2]] + ["{broken json"] + [json.dumps(r) for r in good[2:] + faults]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = extract(cli, src, tmp_path / "o.jsonl")
    assert code == 0, err
    kept, rejected, stats = outputs(tmp_path / "o.jsonl")
    assert kept == [{"id": "t1", "messages": [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Short answer: scattering."},
        {"role": "user", "content": "More?"}, {"role": "assistant", "content": "Blue light scatters more."}],
        "meta": {"source": str(src), "tree": "t1", "message_ids": ["r1", "a0", "u2", "a2"], "lang": "en"}}]
    reasons = {r["record"]["message_id"]: r["reason"] for r in rejected
               if "record" in r and r["record"].get("text") != "same id again"}
    assert reasons == {"a1": "not-on-a-path", "d1": "deleted", "x1": "orphan", "v1": "review-failed",
                       "o1": "orphan", "s1": "role-order", "b1": "bad-root", "e1": "empty-text",
                       "k1": "missing-keys", "p1": "orphan", "p2": "orphan", "q1": "no-answer"}
    assert stats["dropped"]["duplicate-id"] == 1 and stats["errors"] == 1 and stats["kept"] == 4
    assert stats["read"] == len(lines) == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    # all paths: the rank-1 reply is a conversation of its own
    code, err = extract(cli, src, tmp_path / "all.jsonl", "--oasst-paths", "all")
    assert code == 0, err
    assert [c["meta"]["message_ids"] for c in outputs(tmp_path / "all.jsonl")[0]] == \
        [["r1", "a0", "u2", "a2"], ["r1", "a1"]]


def test_no_conversation_at_all_fails_and_auto_points_to_the_format(cli, tmp_path):
    src = tmp_path / "prompts.jsonl"
    src.write_text(json.dumps(row("q1", None, "prompter", "Anyone?")) + "\n", encoding="utf-8")
    code, err = extract(cli, src, tmp_path / "o.jsonl")
    assert code == 2 and "no-answer" in err
    code, _, err = cli("prep", "extract", "jsonl", "--input", ROWS, "--output", tmp_path / "auto.jsonl", "--quiet")
    assert code == 2 and "message-row" in err
    detail = outputs(tmp_path / "auto.jsonl")[1][0]["detail"]
    assert "--format oasst" in detail


def test_split_by_tree_keeps_every_path_of_a_tree_on_one_side(cli, tmp_path):
    code, err = extract(cli, ROWS, tmp_path / "all.jsonl", "--oasst-paths", "all")
    assert code == 0, err
    code, _, err = cli("prep", "split", "--input", tmp_path / "all.jsonl", "--train-output", tmp_path / "t.jsonl",
                       "--val-output", tmp_path / "v.jsonl", "--split_ratio", "0.5,0.5", "--group-key", "meta.tree",
                       "--quiet")
    assert code == 0, err
    sides = {side: {r["meta"]["tree"] for r in read_jsonl(tmp_path / f"{side}.jsonl")} for side in ("t", "v")}
    assert sides["t"] and sides["v"] and not sides["t"] & sides["v"]
