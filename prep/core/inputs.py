"""What a file, folder or glob given as input stands for: a list of files, in a stable order.

A sharded output folder (prep.core.shards) reads like one file: its parts in manifest order,
each checked against its manifest entry (size before reading, sha256 as its last byte is read).
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
from pathlib import Path

from prep.core.errors import StageError
from prep.core.shards import (
    IO_BUFFER_BYTES,
    MANIFEST,
    PART_NAME,
    Part,
    content_sha256,
    dataset_parts,
    is_dataset,
)

# What stages write beside their outputs; a folder or glob of outputs must not read them back.
SIDECAR_SUFFIXES = (".stats.json", ".rejected.jsonl")


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIXES) or path.name.startswith(".")


def refuse_loose_parts(folder: Path, names: list[str]) -> None:
    """A folder with part files and no manifest is a sharded output that never finished."""
    parts = sorted(n for n in names if PART_NAME.fullmatch(n))
    if parts:
        raise StageError(f"{folder}: holds {len(parts)} part files ({parts[0]} ...) but no {MANIFEST}: "
                         "an incomplete sharded output (a killed run?); run the stage that writes it again, "
                         f"or name the parts by a glob ({folder}/part-*.jsonl) if you know they are whole")


def _walk(root: Path, suffixes: tuple[str, ...]) -> list[tuple[Path, Part | None]]:
    """Files with ``suffixes`` under ``root`` (links to folders are not followed, hidden folders such
    as temporaries skipped); a sharded folder inside counts as one block, read in manifest order."""
    jsonl = ".jsonl" in suffixes
    blocks: list[tuple[Path, list[tuple[Path, Part | None]]]] = []
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        if jsonl and is_dataset(here):
            blocks.append((here, [(part.path, part) for part in dataset_parts(here)]))
            subfolders[:] = []
            continue
        if jsonl:
            refuse_loose_parts(here, names)
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        blocks += [(here / name, [(here / name, None)]) for name in names
                   if Path(name).suffix.lower() in suffixes and not is_sidecar(here / name)
                   and (here / name).is_file()]
    return [item for _, block in sorted(blocks, key=lambda b: b[0]) for item in block]


def sources(spec: str | Path, suffixes: tuple[str, ...]) -> list[tuple[Path, Part | None]]:
    """(file, its manifest entry or None) for a file, folder or glob; see ``input_files``."""
    path = Path(spec)
    jsonl = ".jsonl" in suffixes
    if jsonl and path.name == MANIFEST and path.is_file():
        path = path.parent  # the manifest named alone stands for its folder
    if path.is_file():
        return [(path, None)]
    if path.is_dir():
        found = _walk(path, suffixes)
        if not found:
            raise StageError(f"{path}: folder holds no {'/'.join(suffixes)} files")
        return found
    found = []
    for match in sorted(Path(p) for p in glob.glob(str(spec), recursive=True)):
        if match.is_dir() and jsonl and is_dataset(match):
            found += [(part.path, part) for part in dataset_parts(match)]
        elif match.is_file() and not is_sidecar(match) and not (
                match.name == MANIFEST and is_dataset(match.parent)):
            found.append((match, None))
    if not found:
        raise StageError(f"{spec}: no such file, folder or glob match")
    return found


def input_files(spec: str | Path, suffixes: tuple[str, ...] = (".jsonl", ".json")) -> list[Path]:
    """Expand a file, a folder (files with ``suffixes`` inside, recursively) or a glob.

    Stats and rejects files and hidden (temporary) files and folders are skipped unless named
    alone. A folder with ``manifest.json`` (a sharded output, prep.core.shards) is one dataset:
    its parts in manifest order, each checked to exist with its listed size; one with part files
    and no manifest stops with a message (a killed run). Otherwise sorted, so that every run sees
    the same order. Stops with a clear message when nothing matches, since a silent empty run is
    worse than an error.
    """
    return [path for path, _ in sources(spec, suffixes)]


def mismatch(part: Part, digest: str) -> StageError:
    return StageError(f"{part.path.parent}: {part.path.name} does not match its sha256 in {MANIFEST} "
                      f"({digest[:12]}... where {part.sha256[:12]}... is listed): changed since it was "
                      "written")


class _Verifying(io.RawIOBase):
    """Reads a part and checks its sha256 and size when the end is reached."""

    def __init__(self, part: Part):
        self.part = part
        self._fh = open(part.path, "rb", buffering=0)
        self._digest = hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._fh.readinto(buffer)
        if n:
            self._digest.update(memoryview(buffer)[:n])
            self._size += n
        elif not self._checked:
            self._checked = True
            if self._size != self.part.bytes or self._digest.hexdigest() != self.part.sha256:
                raise mismatch(self.part, self._digest.hexdigest())
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_part(part: Part) -> io.BufferedReader:
    """A binary reader of one part that raises StageError at its end if it is not what was written."""
    return io.BufferedReader(_Verifying(part), buffer_size=IO_BUFFER_BYTES)


def sidecar(output: Path, suffix: str) -> Path:
    """``data/x.jsonl`` -> ``data/x.jsonl.stats.json`` (suffix ``.stats.json``).

    Named after the whole output name, so that ``train.jsonl`` (split) and ``train.arrow``
    (tokenize) in one folder never share a stats or rejects file; a sharded folder ``data/x``
    has ``data/x.stats.json``.
    """
    return output.with_name(output.name + suffix)


def stale_stats(path: Path, digest: str) -> Path | None:
    """The stats file beside ``path`` when it was written for other contents of ``path``, else None."""
    stats_path = sidecar(path, ".stats.json")
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs = stats.get("outputs") if isinstance(stats, dict) else None
    hashes = stats.get("output_sha256") if isinstance(stats, dict) else None
    if not isinstance(outputs, dict) or not isinstance(hashes, dict):
        return None
    for key, written in outputs.items():
        if Path(written).resolve() == path.resolve() and hashes.get(key) not in (None, digest):
            return stats_path
    return None


def stale_inputs(hashes: dict[Path, str]) -> list[tuple[Path, Path]]:
    """(input, its stale stats file) for inputs whose stats describe other contents.

    ``hashes`` are the sha256 of a stage's input files. Those that are parts of a sharded folder
    are first checked against its manifest (StageError on a mismatch: the stage hashed them
    anyway, so this costs nothing), and the folder is checked like a file, by its content digest.
    """
    checked = dict(hashes)
    for folder in sorted({path.parent for path in hashes}):
        if not is_dataset(folder):
            continue
        parts = dataset_parts(folder)
        for part in parts:
            if part.path in hashes and hashes[part.path] != part.sha256:
                raise mismatch(part, hashes[part.path])
        checked[folder] = content_sha256(parts)
    return [(path, stale) for path, digest in checked.items()
            if (stale := stale_stats(path, digest)) is not None]
