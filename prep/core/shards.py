"""Sharded outputs: a folder of ``part-00000.jsonl`` ... with ``manifest.json`` written last.

The folder is built as ``.OUT.tmp-PID/`` beside its target: every part is synced as it is
closed, the manifest is written and synced after the last one, and only then is the folder
renamed into place. A folder named OUT therefore either holds a manifest that lists every
part (with its record count, size and sha256) or is not there at all. Readers
(prep.core.inputs, prep.core.records) take such a folder as one dataset, in manifest order.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from prep.core.atomic import fsync_folder, remove_path, remove_stale_temporaries
from prep.core.errors import StageError

MANIFEST = "manifest.json"
FORMAT = "tunesmith-shards"
VERSION = 1
# Records per part when OUTPUT ends with "/" and --shard-records is not given: about
# 100-400 MB of typical instruction records (1-4 KB each), small enough to copy or hash alone.
DEFAULT_PART_RECORDS = 100_000
PART_NAME = re.compile(r"part-\d{5,}\.jsonl")
# Bytes buffered per part file while writing, and per read while verifying a part.
IO_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class Part:
    """One part as its manifest lists it."""
    path: Path
    records: int
    bytes: int
    sha256: str


def content_sha256(parts: list[dict] | list[Part]) -> str:
    """One digest for a whole dataset: over each part's name, records, bytes and sha256, in order.

    Unlike a hash of manifest.json it leaves out the creation time, so the same inputs and
    options give the same digest (the stats file records it as the output's sha256).
    """
    listing = [[p.path.name, p.records, p.bytes, p.sha256] if isinstance(p, Part) else
               [p["name"], p["records"], p["bytes"], p["sha256"]] for p in parts]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def created_at() -> float:
    """Now, or ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) where it is set, so that
    the same inputs and options can give a byte-identical manifest too."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return float(value) if value.isdigit() else time.time()


class ShardedOutput:
    """The writer: text written to it goes to parts of at most ``part_records`` lines each.

    ``write`` takes any text; a part ends only after a newline, so a record never straddles two
    parts. It has AtomicFile's life cycle (sync, rename, commit, abort) so that prep.core.stage
    treats both alike; ``handle`` is the object itself.
    """

    def __init__(self, target: Path, part_records: int, stage: str = "", options: dict | None = None):
        if part_records < 1:
            raise StageError(f"--shard-records {part_records}: a part must hold at least 1 record")
        self.target = Path(target)
        self.part_records = part_records
        self.about = {"stage": stage, "options": options or {}}
        if self.target.is_dir() and not self.target.is_symlink() and not is_dataset(self.target) \
                and any(self.target.iterdir()):
            # Replacing OUT removes what it held: only ever a sharded output (or a file) of ours.
            raise StageError(f"{self.target}: a folder that is not a sharded output (no {MANIFEST}) and "
                             "not empty; it is not replaced: name a new folder")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.target)
        self.tmp = self.target.with_name(f".{self.target.name}.tmp-{os.getpid()}")
        remove_path(self.tmp)  # an earlier run of this same process that was not cleaned up
        self.tmp.mkdir()
        self.handle = self
        self.parts: list[dict] = []
        self._fh = None
        self._digest = hashlib.sha256()
        self._lines = 0
        self._open_line = False  # the current part ends in the middle of a line
        self._synced = False

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        lines = data.count(b"\n")
        if self._fh is not None and self._lines + lines < self.part_records:
            self._lines += lines  # the common case: it all fits in the current part
            self._put(data)
            return len(text)
        view, start = memoryview(data), 0
        while start < len(data):
            if self._fh is None:
                self._open_part()
            room = self.part_records - self._lines
            end = start
            for _ in range(room):
                found = data.find(b"\n", end)
                if found < 0:
                    break
                end = found + 1
                self._lines += 1
            if self._lines < self.part_records:
                end = len(data)  # the rest fits: fewer than ``room`` newlines in it
            self._put(view[start:end])
            start = end
            if self._lines == self.part_records:
                self._close_part()
        return len(text)

    def _put(self, chunk: bytes | memoryview) -> None:
        if chunk:
            self._fh.write(chunk)
            self._digest.update(chunk)
            self._open_line = chunk[-1:] != b"\n"

    def _open_part(self) -> None:
        name = f"part-{len(self.parts):05d}.jsonl"
        self._fh = open(self.tmp / name, "wb", buffering=IO_BUFFER_BYTES)
        self._digest, self._lines, self._open_line = hashlib.sha256(), 0, False

    def _close_part(self) -> None:
        """Sync the part and list it; a last line without a newline still counts as a record."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        size = self._fh.tell()
        self._fh.close()
        name = Path(self._fh.name).name
        self.parts.append({"name": name, "records": self._lines + self._open_line, "bytes": size,
                           "sha256": self._digest.hexdigest()})
        self._fh = None

    def manifest(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "stage": self.about["stage"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created_at())),
                "records": sum(p["records"] for p in self.parts),
                "bytes": sum(p["bytes"] for p in self.parts), "part_records": self.part_records,
                "content_sha256": content_sha256(self.parts), "options": self.about["options"],
                "parts": self.parts}

    def sync(self) -> None:
        """Every part and then the manifest on disk, in the temporary folder; nothing renamed yet."""
        if self._synced:
            return
        if self._fh is not None or not self.parts:
            if self._fh is None:
                self._open_part()  # an empty dataset still has one (empty) part, like an empty file
            self._close_part()
        with open(self.tmp / MANIFEST, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.manifest(), indent=2, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        fsync_folder(self.tmp)
        self._synced = True

    def digest(self) -> str:
        return content_sha256(self.parts)

    def rename(self) -> None:
        """Swap the new folder in: the old output (folder or file) is moved aside first, removed last.

        A kill between the two renames leaves no OUT at all (never a partial one); the next run
        removes the ``.OUT.old-PID`` and ``.OUT.tmp-PID`` it finds.
        """
        old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
        moved = os.path.lexists(self.target)
        if moved:
            remove_path(old)  # left by an earlier run of this same process
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if moved:
            fsync_folder(self.target.parent)
            remove_path(old)

    def commit(self) -> None:
        self.sync()
        self.rename()
        fsync_folder(self.target.parent)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        remove_path(self.tmp)


# -- reading -------------------------------------------------------------------------------
def is_dataset(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def _entry(folder: Path, item) -> Part:
    ok = (isinstance(item, dict) and isinstance(item.get("name"), str) and PART_NAME.fullmatch(item["name"])
          and all(isinstance(item.get(k), int) and item[k] >= 0 for k in ("records", "bytes"))
          and isinstance(item.get("sha256"), str) and re.fullmatch("[0-9a-f]{64}", item["sha256"]))
    if not ok:
        raise StageError(f"{folder}/{MANIFEST}: a part entry is not {{name, records, bytes, sha256}}: "
                         f"{json.dumps(item)[:200]}")
    return Part(folder / item["name"], item["records"], item["bytes"], item["sha256"])


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StageError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StageError(f"{path}: not a {FORMAT} manifest (no \"format\": \"{FORMAT}\")")
    if manifest.get("version") != VERSION:
        raise StageError(f"{path}: manifest version {manifest.get('version')!r}; this tunesmith reads "
                         f"version {VERSION}")
    if not isinstance(manifest.get("parts"), list):
        raise StageError(f"{path}: no list of parts")
    return manifest


def dataset_parts(folder: Path) -> list[Part]:
    """The parts of a sharded folder in manifest order, each checked to exist with its listed size.

    Sizes are checked here (one stat per part); contents are checked against their sha256 while
    they are read (prep.core.inputs.open_part), which costs no second pass over the data.
    """
    parts = [_entry(folder, item) for item in read_manifest(folder)["parts"]]
    listed = {p.path.name for p in parts}
    if len(listed) != len(parts):
        raise StageError(f"{folder}/{MANIFEST}: lists a part twice")
    extra = sorted(n for n in os.listdir(folder) if PART_NAME.fullmatch(n) and n not in listed)
    if extra:
        raise StageError(f"{folder}: {extra[0]} is not listed in {MANIFEST} (a part from another run?)")
    for part in parts:
        try:
            size = part.path.stat().st_size
        except OSError:
            raise StageError(f"{folder}: {part.path.name} is listed in {MANIFEST} but missing") from None
        if size != part.bytes:
            raise StageError(f"{folder}: {part.path.name} holds {size:,} bytes where {MANIFEST} lists "
                             f"{part.bytes:,}: changed or cut short since it was written")
    return parts
