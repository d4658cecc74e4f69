"""The C heap's free pages go back to the kernel on request (issue 18: a live TUI's RSS)."""

from __future__ import annotations

import os

import pytest

from tests.support.proc import rss_kb
from tracer.heap import _TRIM, release_free_pages

BLOCKS, SIZE = 10_000, 4000  # ~40 MB of malloc'd blocks (above pymalloc's 512 B, below mmap's threshold)


@pytest.mark.skipif(_TRIM is None, reason="not glibc: nothing to trim")
def test_freed_blocks_stay_resident_until_released() -> None:
    blocks = [bytearray(SIZE) for _ in range(BLOCKS)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touched: resident
    keep = blocks[::50]  # a few live blocks spread over the heap, as a live view's are
    top = bytearray(SIZE)  # and one above them all, so free() cannot shrink the heap from its top
    del blocks
    held = rss_kb(os.getpid())
    assert release_free_pages()
    freed = held - rss_kb(os.getpid())
    assert freed >= BLOCKS * SIZE // 1024 // 2, (held, freed)  # most of the ~40 MB given back
    assert len(keep) == BLOCKS // 50 and len(top) == SIZE
