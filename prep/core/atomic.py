"""Files that appear whole or not at all: written under a temporary name, synced, renamed last.

A killed writer leaves only ``.NAME.tmp-PID``, never a file that looks complete; opening a new
writer for the same target removes the temporaries whose process is gone (files, or the folders
and ``.NAME.old-PID`` leftovers of sharded outputs, prep.core.shards). Used by every stage
(prep.core.stage) and by checkpoints, curves, the embedding cache and the cluster report.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

# Input bytes hashed per read call when fingerprinting a file.
HASH_CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: leave its files alone
    return True


def remove_path(path: Path) -> None:
    """Remove a file or a whole folder (a link is removed, never followed); gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Leftovers of killed runs for ``target``: ``.NAME.tmp-PID`` (and ``.NAME.old-PID``, an old
    sharded output moved aside) whose process is gone."""
    removed = []
    for kind in ("tmp", "old"):
        for path in target.parent.glob(f".{target.name}.{kind}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                remove_path(path)
                removed.append(path)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a crash after the rename keeps it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a folder; the rename is still atomic
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a temporary name beside its target and renamed on commit.

    Opening one removes the temporaries that killed runs left for the same target.
    """

    def __init__(self, target: Path, mode: str = "w"):
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.target)
        self.tmp = self.target.with_name(f".{self.target.name}.tmp-{os.getpid()}")
        self.handle = open(self.tmp, mode, encoding=None if "b" in mode else "utf-8")

    def sync(self) -> None:
        """Everything written is on disk under the temporary name; nothing is renamed yet."""
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def digest(self) -> str:
        """The sha256 of what was written (call after ``sync``)."""
        return file_sha256(self.tmp)

    def rename(self) -> None:
        os.replace(self.tmp, self.target)

    def commit(self) -> None:
        self.sync()
        self.rename()
        fsync_folder(self.target.parent)

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Commit on a clean exit; on an exception drop the temporary file and let it propagate."""
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False
