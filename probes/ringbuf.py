"""A batch consumer of a BPF ring buffer, by mmap, without per-event callbacks.

bcc's ``ring_buffer_poll`` calls back into Python once per event (~150k/s
here); a ping flood through two veths and a bridge produces more. The ring
buffer's memory layout is kernel ABI (kernel/bpf/ringbuf.c, read in 6.18):
page 0 holds the consumer position (we write it), page 1 the producer
position (read only), then the data area mapped twice so a record that wraps
is contiguous. Every record here has the same size (one event struct), so the
region between the two positions is a numpy array of records.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import select
import struct
import time
from typing import Protocol

import numpy as np

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
# The record header's length word is little-endian: both flag bits sit in its high byte.
_LEN_HIGH_BYTE = 3
_BUSY, _DISCARD = b"\x02", b"\x01"
_FLAG_OF_HIGH_BYTE = bytes(2 if b & (BUSY_BIT >> 24) else 1 if b & (DISCARD_BIT >> 24) else 0
                           for b in range(256))


def _keep_freed_memory() -> None:
    """Let glibc reuse freed batch arrays instead of mapping fresh pages for each.

    Every drain copies a batch (MBs) out of the ring; with glibc's default the
    copy lands in a new mmap whose pages all fault on first touch, which cost
    as much as decoding. Batches live until the correlator forgets them, so
    the heap settles at a steady size. Process-wide, and harmless elsewhere.
    """
    global _MALLOPT_DONE
    if _MALLOPT_DONE:
        return
    _MALLOPT_DONE = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_MALLOPT_DONE = False


class RecordRing(Protocol):
    """What the drain reads: a BPF ring buffer (RingBuffer) or the probes'
    per-CPU rings (probes/cpuring.py: CpuRing), records of one dtype."""

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def fd(self) -> int | None: ...

    def pending(self) -> bool: ...

    def drain(self, max_records: int = 65536) -> np.ndarray: ...

    def close(self) -> None: ...


class RingBuffer:
    _ep: select.epoll | None

    def __init__(self, map_fd: int, size: int, rec_dtype: np.dtype) -> None:
        if size & (size - 1):
            raise ValueError("ring buffer size must be a power of two")
        page = mmap.PAGESIZE
        cons = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        prod = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._setup(cons, prod, size, rec_dtype)
        self._fd: int | None = map_fd
        self._ep = select.epoll()
        self._ep.register(map_fd, select.EPOLLIN)

    @classmethod
    def from_memory(cls, cons: mmap.mmap, prod: mmap.mmap, size: int,
                    rec_dtype: np.dtype) -> RingBuffer:
        """A reader over memory laid out like the kernel's (benchmarks, tests): no fd to poll."""
        if size & (size - 1):
            raise ValueError("ring buffer size must be a power of two")
        self = cls.__new__(cls)
        self._setup(cons, prod, size, rec_dtype)
        self._fd = None
        self._ep = None
        return self

    def _setup(self, cons: mmap.mmap, prod: mmap.mmap, size: int, rec_dtype: np.dtype) -> None:
        _keep_freed_memory()
        self._size = size
        self._mask = size - 1
        self._dtype = rec_dtype
        self._cons = cons
        self._prod = prod
        self._data = memoryview(self._prod)[mmap.PAGESIZE:]
        self._watched: list[RecordRing] = []

    @property
    def dtype(self) -> np.dtype:
        """The record type drain() returns."""
        return self._dtype

    @property
    def fd(self) -> int | None:
        """The map's fd, which epoll reports readable when the probes wake it."""
        return self._fd

    def watch(self, other: RecordRing) -> None:
        """Let wait() wake for ``other``'s records too (the spill ring beside the main one).

        Without it, an event only the spill ring took waited out the whole
        timeout of a wait() on the main ring's fd.
        """
        self._watched.append(other)
        if self._ep is not None and other.fd is not None:
            self._ep.register(other.fd, select.EPOLLIN)

    def _positions(self) -> tuple[int, int]:
        cons = struct.unpack_from("<Q", self._cons, 0)[0]
        prod = struct.unpack_from("<Q", self._prod, 0)[0]
        return cons, prod

    def pending(self) -> bool:
        """Records (maybe still being written) that drain() has not returned."""
        cons, prod = self._positions()
        return cons != prod

    def wait(self, timeout_ms: int) -> None:
        """Sleep until the kernel signals data here or in a watched ring (or the timeout passes)."""
        if self.pending() or any(o.pending() for o in self._watched):
            return
        if self._ep is not None:
            self._ep.poll(max(timeout_ms, 0) / 1000.0)
        else:  # memory without a map fd (benchmarks, tests): nothing can signal
            time.sleep(max(timeout_ms, 0) / 1000.0)

    def drain(self, max_records: int = 65536) -> np.ndarray:
        """All complete records available now, as an array of ``rec_dtype``.

        Records still being written (busy bit) end the batch; discarded ones
        are dropped. The consumer position advances past what is returned.

        Everything here runs under the GIL without letting go of it: a byte
        copy and byte scans, no numpy loop. numpy releases the GIL in each
        loop over more than a few hundred elements, and under a correlating
        main thread every release cost the drain thread a switch interval to
        get it back: ~10 of them per drain made an 8 MiB drain take 20-40 ms
        instead of 2, long enough for the ring to fill at 1.5M events/s.
        """
        cons, prod = self._positions()
        avail = prod - cons
        rec = self._dtype.itemsize
        n = min(avail // rec, max_records, self._size // rec)
        if n <= 0:
            return np.empty(0, dtype=self._dtype)
        start = cons & self._mask
        raw = bytearray(self._data[start:start + n * rec])  # one memcpy (the data pages are mapped twice)
        flags = raw[_LEN_HIGH_BYTE::rec].translate(_FLAG_OF_HIGH_BYTE)  # one byte per record
        busy = flags.find(_BUSY)
        if busy >= 0:
            n = busy
            flags = flags[:n]
        struct.pack_into("<Q", self._cons, 0, cons + n * rec)
        arr = np.frombuffer(raw, dtype=self._dtype, count=n)
        if flags.find(_DISCARD) >= 0:  # the probes never discard; kept for the ring's contract
            arr = arr[np.frombuffer(bytes(flags), dtype=np.uint8) != _DISCARD[0]]
        return arr

    def close(self) -> None:
        if self._ep is not None:
            self._ep.close()
        self._data.release()
        self._prod.close()
        self._cons.close()
