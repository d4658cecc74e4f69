"""The per-CPU rings the probes write hop, raw and route records into (brtrace.c: cpu_head).

A BPF ring buffer serialises its writers: each record took a spinlock with
interrupts off, a locked exchange and two helper calls, a third of what a
traced packet's hop cost. The skb path already runs one at a time per CPU
(it holds that CPU's scratch), and so does the route lookup's program (a
flag in the scratch sends a nested run to the full path), so each CPU gets
a ring of its own per kind with one writer and no lock: fixed slots in an mmapable array map, and in a second
one a head (slots written, the probes') and a tail (slots read, ours) per
CPU and ring, each on its own cache line so neither side's stores move the
other's line. The probes publish a slot by storing head + 1 after its bytes;
x86 keeps stores in order, so every slot below the head we read is whole.

A slot has a ring-buffer record's layout (an 8-byte header, always 0 here,
then the struct), so ``drain`` returns what ``RingBuffer.drain`` did for the
BPF rings these replace, and the drain's code is unchanged. A full ring
refuses and the probes write the event on the full path instead, so a
reader that falls behind loses nothing here: loss stays counted where it was.
"""

from __future__ import annotations

import mmap
import struct
from enum import IntEnum

import numpy as np

# The layout of cpu_pos: u64 words, POS_WORDS (128 bytes) per (CPU, ring),
# the head at word 0, the tail at word POS_TAIL (its own cache line).
POS_WORDS = 16
POS_TAIL = 8


class Ring(IntEnum):
    """The kinds of record with rings of their own: the index of a CPU's ring
    of that kind in cpu_pos (brtrace.c: CPU_RING_<NAME>), the map's name
    (cpu_<name>) and its slots' macros (<KIND>_SLOTS, <KIND>_SLOT_BYTES)."""

    HOPS = 0
    RAWS = 1
    ROUTES = 2

    @property
    def map_name(self) -> bytes:
        return f"cpu_{self.name.lower()}".encode()

    @property
    def record_kind(self) -> str:
        """One record's kind: HOP for the ring of HOPS."""
        return self.name.removesuffix("S")


RINGS = len(Ring)
# All CPUs' slots of one ring together stay within this many times the one
# BPF ring it replaced: a 64-CPU machine does not get 64 full-size rings.
TOTAL_FACTOR = 4
# The TOTAL_FACTOR cap never cuts a ring below this many slots; a ring the
# user asked to be smaller (--ring-pages 1) keeps its own, smaller size.
MIN_SLOTS = 256


def slots_per_cpu(ring_bytes: int, slot_bytes: int, ncpu: int) -> int:
    """A power of two: as many slots as ``ring_bytes`` holds, or fewer on a
    machine with many CPUs (TOTAL_FACTOR), but not under MIN_SLOTS for that
    cap. A small ``ring_bytes`` gives a small ring: a user who asks for a
    1-page ring to see loss counted must see loss, not 256 slots per CPU
    that take the whole burst (stop 34's CI: 3000 events, none lost)."""
    whole = max(ring_bytes // slot_bytes, 1)
    capped = TOTAL_FACTOR * ring_bytes // max(ncpu, 1) // slot_bytes
    n = min(whole, max(capped, MIN_SLOTS))
    return 1 << (n.bit_length() - 1)


def map_bytes(n_entries: int, value_size: int) -> int:
    """What an mmapable array of n_entries values maps: whole pages."""
    page = mmap.PAGESIZE
    size = n_entries * ((value_size + 7) & ~7)
    return (size + page - 1) // page * page


class CpuPositions:
    """cpu_pos mapped: every CPU's head and tail, for both rings."""

    def __init__(self, mem: mmap.mmap, ncpu: int) -> None:
        self._mem = mem
        self.ncpu = ncpu

    @classmethod
    def from_fd(cls, fd: int, ncpu: int) -> CpuPositions:
        size = map_bytes(ncpu * RINGS, POS_WORDS * 8)  # one value per (CPU, ring)
        return cls(mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE), ncpu)

    def _at(self, cpu: int, ring: int) -> int:
        return (cpu * RINGS + ring) * POS_WORDS * 8

    def head(self, cpu: int, ring: int) -> int:
        return int(struct.unpack_from("<Q", self._mem, self._at(cpu, ring))[0])

    def tail(self, cpu: int, ring: int) -> int:
        return int(struct.unpack_from("<Q", self._mem, self._at(cpu, ring) + POS_TAIL * 8)[0])

    def set_tail(self, cpu: int, ring: int, value: int) -> None:
        struct.pack_into("<Q", self._mem, self._at(cpu, ring) + POS_TAIL * 8, value)

    def close(self) -> None:
        self._mem.close()


class CpuRing:
    """One kind of record (hops, raws or routes) over every CPU's ring: RingBuffer's reading side."""

    def __init__(self, data: mmap.mmap, pos: CpuPositions, ring: Ring, slots: int,
                 rec_dtype: np.dtype) -> None:
        if slots & (slots - 1):
            raise ValueError("slots per CPU must be a power of two")
        self._mem = data
        self._data = memoryview(data)
        self._pos = pos
        self._ring = ring
        self._slots = slots
        self._dtype = rec_dtype

    @classmethod
    def from_fd(cls, fd: int, pos: CpuPositions, ring: Ring, slots: int,
                rec_dtype: np.dtype) -> CpuRing:
        size = map_bytes(pos.ncpu * slots, rec_dtype.itemsize)
        return cls(mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ), pos, ring, slots, rec_dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def fd(self) -> int | None:
        """Nothing to poll: the probes do not signal these rings (the drain's wait times out)."""
        return None

    def produced(self) -> int:
        """Records the probes wrote here, on every CPU (brtrace.c counts them by the heads)."""
        return sum(self._pos.head(c, self._ring) for c in range(self._pos.ncpu))

    def pending(self) -> bool:
        return any(self._pos.head(c, self._ring) != self._pos.tail(c, self._ring)
                   for c in range(self._pos.ncpu))

    def drain(self, max_records: int = 65536) -> np.ndarray:
        """Every CPU's published records, CPU after CPU (each CPU's in the
        order written; the drain puts batches in time order), up to
        max_records; each CPU's tail advances past what is returned."""
        rec = self._dtype.itemsize
        spans: list[tuple[int, int]] = []  # byte ranges of the data map, in order
        tails: list[tuple[int, int]] = []  # set once the slots are copied: then they are free
        left = max_records
        for cpu in range(self._pos.ncpu):
            tail = self._pos.tail(cpu, self._ring)
            n = min(self._pos.head(cpu, self._ring) - tail, left)  # the head before any slot
            if n <= 0:
                continue
            base = cpu * self._slots
            first = tail & (self._slots - 1)
            k = min(n, self._slots - first)
            spans.append(((base + first) * rec, (base + first + k) * rec))
            if n > k:  # wrapped: the rest from the ring's start
                spans.append((base * rec, (base + n - k) * rec))
            tails.append((cpu, tail + n))
            left -= n
            if left <= 0:
                break
        total = sum(b - a for a, b in spans)
        out = bytearray(total)
        at = 0
        for a, b in spans:
            out[at:at + b - a] = self._data[a:b]
            at += b - a
        for cpu, tail in tails:
            self._pos.set_tail(cpu, self._ring, tail)
        return np.frombuffer(out, dtype=self._dtype)

    def close(self) -> None:
        self._data.release()
        self._mem.close()
