"""Embeddings on disk: float16 rows in a memory-mapped file, read back a block at a time.

`prep cluster` never holds a Python list of vectors, nor the whole matrix: rows are appended
in input order as the embedding pass produces them (384 dims x 2 bytes = 768 bytes a record
for MiniLM, 512 for TF-IDF's 256 dims), and every later step reads the rows it needs as
float32 tensors. Up to ``exact_rows`` rows (the size of the k-means sample, which holds every
row as float32 anyway when there are no more) the file keeps float32, so that small inputs
cluster exactly as they did from vectors in memory; the row that goes past it turns the file
into float16 once (a copy, block by block), and float16 it stays. Each read maps the file, copies what it needs and unmaps it again, so the
pages it touched leave this process's resident memory with the mapping (they stay in the
page cache, which the kernel can drop). The file lives in a temporary folder beside the
output (``scratch``), removed when the stage ends, whether it succeeded or not.
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

DTYPE = np.float16
EXACT = np.float32
# Rows copied at a time when the file turns float16.
COPY_ROWS = 65_536


@contextmanager
def scratch(output: Path):
    """A temporary folder beside ``output`` (a sharded output folder included), removed on leaving.
    Beside it, not in /tmp: the vectors of 1M records take 0.5-0.8 GB, and /tmp is often small
    or in memory."""
    parent = Path(output).parent
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{Path(output).name}.cluster-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class VectorFile:
    """Rows of ``dims`` float16 values in ``path``: ``append`` while writing, then read."""

    def __init__(self, path: Path, exact_rows: int = 0):
        self.path = Path(path)
        self.exact_rows = exact_rows
        self.dims: int | None = None
        self.rows = 0
        self.dtype = EXACT if exact_rows > 0 else DTYPE
        self._out = open(self.path, "wb")

    def append(self, rows) -> None:
        block = np.asarray(rows)
        if block.ndim != 2 or (self.dims is not None and block.shape[1] != self.dims):
            raise ValueError(f"vector rows of shape {block.shape} do not fit {self.dims} dims")
        self.dims = block.shape[1]
        if self.dtype == EXACT and self.rows + block.shape[0] > self.exact_rows:
            self._to_half()
        self._out.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += block.shape[0]

    def _to_half(self) -> None:
        """The float32 rows so far rewritten as float16; later rows are appended as float16."""
        self.close()
        half = self.path.with_name(self.path.name + ".half")
        with open(half, "wb") as out:
            for _, block in self.blocks(COPY_ROWS):
                out.write(block.numpy().astype(DTYPE).tobytes())
        half.replace(self.path)
        self.dtype = DTYPE
        self._out = open(self.path, "ab")

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.dims or 0

    def _mapped(self):
        if not self._out.closed:
            self._out.flush()  # rows still in the write buffer: on disk before they are mapped
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.rows, self.dims))

    def block(self, lo: int, hi: int) -> torch.Tensor:
        """Rows lo..hi-1 as a float32 tensor (a copy)."""
        mapped = self._mapped()
        try:
            return torch.from_numpy(mapped[lo:hi].astype(np.float32))
        finally:
            del mapped

    def take(self, index) -> torch.Tensor:
        """The rows ``index`` (any integer sequence or tensor; sorted reads fastest) as float32."""
        index = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
        mapped = self._mapped()
        try:
            return torch.from_numpy(mapped[index].astype(np.float32))
        finally:
            del mapped

    def __getitem__(self, index) -> torch.Tensor:
        """``file[rows]`` as for a tensor of the vectors (what prep.cluster.select's spread asks)."""
        return self.take(index)

    def blocks(self, rows: int):
        """(lo, float32 tensor of rows lo..lo+rows-1) over the whole file."""
        for lo in range(0, self.rows, rows):
            yield lo, self.block(lo, min(lo + rows, self.rows))
