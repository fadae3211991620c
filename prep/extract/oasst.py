"""OpenAssistant message trees (oasst1, oasst2 as flat rows) joined into conversations.

The published rows are one message each: ``message_id``, ``parent_id`` (null at a tree's root),
``role`` (prompter or assistant), ``text``, and for replies a ``rank`` among their siblings (0 the
best, as the volunteers ranked them). A conversation is a path from a root prompt down the tree,
so no single row is a training record: this pass holds the rows of every input file (the text and
the few fields a conversation needs: 1.5 KB a row measured on the oasst1 sample, whose texts
average 400 characters; a few hundred MB for oasst2's 135k messages), links them, and writes
one ``{"messages": [...]}`` record per path (prompter -> user), in the order of the root rows:

- ``top`` (the default, as OpenAssistant's own "top-1" exports and Guanaco were made): from each
  root, the best-ranked reply at every level (unranked replies after ranked ones, then file order),
  down to a leaf; the path ends at its last assistant turn.
- ``all``: every path from a root to a leaf, ended at its last assistant turn; paths that end the
  same after that are written once.

Rows are counted as read; a row on some written path is kept (the stats' "conversations" counts
records written), every other row is dropped with why: deleted or failed review (the row and the
replies under it), a missing field, a reply whose parent is not in the input, two turns of one
role in a row, a lower-ranked branch (top), a prompt no assistant answered. Text is copied as it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prep.core.records import dumps

PATHS = ("top", "all")
ROLES = {"prompter": "user", "assistant": "assistant"}
NEEDED = ("message_id", "parent_id", "role", "text")
HELD = (*NEEDED, "rank", "lang", "message_tree_id")


@dataclass
class Row:
    where: str
    record: dict
    order: int
    kids: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.record["message_id"])

    def rank_key(self) -> tuple:
        rank = self.record.get("rank")
        return (0, rank, self.order) if isinstance(rank, (int, float)) and not isinstance(rank, bool) \
            else (1, 0, self.order)


def row_problem(record: dict) -> tuple[str, str] | None:
    """(reason, detail) when a row cannot be a turn of a conversation, else None."""
    missing = [k for k in NEEDED if k not in record]
    if missing:
        return "missing-keys", f"an oasst message row needs {', '.join(map(repr, missing))}"
    if record.get("deleted") is True:
        return "deleted", "the row is marked deleted"
    if record.get("review_result") is False:
        return "review-failed", "the row failed the volunteers' review"
    if record["role"] not in ROLES:
        return "unknown-role", f"role {record['role']!r}, not prompter or assistant"
    if not isinstance(record["text"], str) or not record["text"].strip():
        return "empty-text", "no text"
    return None


def load(reads, stage) -> tuple[list[Row], dict[str, Row]]:
    """(usable rows in input order, by message id); unusable rows are dropped or counted as errors."""
    rows: list[Row] = []
    by_id: dict[str, Row] = {}
    for item in reads:
        stage.read()
        if item.error is not None:
            stage.error(item.where, item.error, item.raw)
            continue
        problem = row_problem(item.record)
        if problem is None and str(item.record["message_id"]) in by_id:
            problem = "duplicate-id", f"message_id {item.record['message_id']!r} was already read"
        if problem:
            stage.drop(item.record, *problem, where=item.where)
            continue
        # Only the fields a conversation needs are held (oasst rows carry about 1 KB of labels and
        # toxicity scores each); rows dropped after this point show these fields in the rejects.
        row = Row(item.where, {k: item.record[k] for k in HELD if k in item.record}, len(rows))
        rows.append(row)
        by_id[row.id] = row
    return rows, by_id


def link(rows: list[Row], by_id: dict[str, Row], stage) -> tuple[list[Row], set]:
    """(the roots, the ids dropped here), each row's replies linked under it. A reply whose parent
    is missing (or was dropped), or whose role repeats its parent's, is dropped; join() drops the
    branch under it, which no root reaches."""
    roots, cut = [], set()
    for row in rows:  # a parent may come after its reply in the file: link only once all are read
        parent_id = row.record["parent_id"]
        if parent_id is None:
            if row.record["role"] == "prompter":
                roots.append(row)
            else:
                cut.add(row.id)
                stage.drop(row.record, "bad-root", "a tree must start with a prompter row", where=row.where)
            continue
        parent = by_id.get(str(parent_id))
        if parent is None:
            cut.add(row.id)
            stage.drop(row.record, "orphan", f"parent {parent_id!r} is not in the input (or was dropped)",
                       where=row.where)
        elif parent.record["role"] == row.record["role"]:
            cut.add(row.id)
            stage.drop(row.record, "role-order", f"a {row.record['role']} row under a {row.record['role']} row",
                       where=row.where)
        else:
            parent.kids.append(row)
    return roots, cut


def paths(root: Row, mode: str) -> list[list[Row]]:
    """The root-to-leaf paths ``mode`` takes, each ended at its last assistant turn (possibly none)."""
    found, stack = [], [[root]]
    while stack:
        path = stack.pop()
        kids = sorted(path[-1].kids, key=Row.rank_key)
        if not kids:
            found.append(path)
        elif mode == "top":
            stack.append(path + [kids[0]])
        else:  # reversed: the stack pops the best-ranked branch first
            stack.extend(path + [kid] for kid in reversed(kids))
    out, seen = [], set()
    for path in found:
        while path and path[-1].record["role"] != "assistant":
            path = path[:-1]
        key = tuple(r.id for r in path)
        if path and key not in seen:
            seen.add(key)
            out.append(path)
    return out


def conversation(path: list[Row], mode: str) -> dict:
    root, leaf = path[0], path[-1]
    tree = root.record.get("message_tree_id") or root.id
    record = {"id": str(tree) if mode == "top" else f"{tree}:{leaf.id}",
              "messages": [{"role": ROLES[r.record["role"]], "content": r.record["text"]} for r in path]}
    # meta.tree: `prep split --group-key meta.tree` keeps the conversations of one tree (all paths
    # share its root prompt) on one side of the split.
    meta = {"source": root.where.rpartition(":")[0], "tree": str(tree), "message_ids": [r.id for r in path]}
    if root.record.get("lang"):
        meta["lang"] = root.record["lang"]
    record["meta"] = meta
    return record


def under(row: Row) -> list[Row]:
    out, stack = [], [row]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(current.kids)
    return out


def join(reads, stage, mode: str) -> int:
    """Read (``reads``: prep.core.records Read items), link and write (see the module docstring);
    returns the conversations written."""
    rows, by_id = load(reads, stage)
    roots, cut = link(rows, by_id, stage)
    written, reached = 0, set(cut)
    for root in roots:
        chosen = paths(root, mode)
        used = {r.id for path in chosen for r in path}
        for path in chosen:
            stage.handle().write(dumps(conversation(path, mode)))
            written += 1
        for row in sorted(under(root), key=lambda r: r.order):
            reached.add(row.id)
            if row.id in used:
                stage.keep(None)
            elif not chosen:
                stage.drop(row.record, "no-answer", "no assistant reply under this prompt", where=row.where)
            else:
                stage.drop(row.record, "not-on-a-path", "a lower-ranked branch" if mode == "top"
                           else "a prompt no assistant answered", where=row.where)
    for row in rows:  # under a row dropped while linking, or in a loop of parents: no root above it
        if row.id not in reached:
            stage.drop(row.record, "orphan", "no root above it: a row it replies to was dropped (or the "
                       "parents loop)", where=row.where)
    return written
