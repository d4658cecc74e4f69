"""The per-CPU rings' reader (probes/cpuring.py) over memory laid out as the
probes write it (brtrace.c: cpu_head, cpu_publish): heads, tails, wrap-around.
The probes' side is tests/kernel/test_hops.py (records on real packets)."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np
import pytest

from probes.cpuring import (
    POS_TAIL,
    POS_WORDS,
    RINGS,
    CpuPositions,
    CpuRing,
    Ring,
    map_bytes,
    slots_per_cpu,
)
from probes.cpus import PossibleCpus
from tracer.schema.event import hop_record_dtype

SLOTS = 8
NCPU = 2


class Producer:
    """What brtrace.c does for one CPU and ring: fill the slot at head, then store head + 1."""

    def __init__(self, data: mmap.mmap, pos: mmap.mmap, cpu: int, ring: Ring) -> None:
        self.data, self.pos, self.cpu, self.ring = data, pos, cpu, ring
        self.rec = hop_record_dtype()

    def _head_at(self) -> int:
        return (self.cpu * RINGS + self.ring) * POS_WORDS * 8

    def head(self) -> int:
        return int(struct.unpack_from("<Q", self.pos, self._head_at())[0])

    def tail(self) -> int:
        return int(struct.unpack_from("<Q", self.pos, self._head_at() + POS_TAIL * 8)[0])

    def write(self, ts: int) -> bool:
        head = self.head()
        if head - self.tail() >= SLOTS:  # full: the probes take the full path
            return False
        r = np.zeros(1, dtype=self.rec)
        r["ev"]["ts_ns"] = ts
        r["ev"]["cpu"] = self.cpu
        at = (self.cpu * SLOTS + head % SLOTS) * self.rec.itemsize
        self.data[at:at + self.rec.itemsize] = r.tobytes()
        struct.pack_into("<Q", self.pos, self._head_at(), head + 1)
        return True


@pytest.fixture
def rings() -> tuple[CpuRing, list[Producer]]:
    rec = hop_record_dtype()
    data = mmap.mmap(-1, map_bytes(NCPU * SLOTS, rec.itemsize))
    pos_mem = mmap.mmap(-1, map_bytes(NCPU * RINGS, POS_WORDS * 8))
    ring = CpuRing(data, CpuPositions(pos_mem, NCPU), Ring.HOPS, SLOTS, rec)
    return ring, [Producer(data, pos_mem, cpu, Ring.HOPS) for cpu in range(NCPU)]


def test_each_cpu_in_order_then_freed(rings: tuple[CpuRing, list[Producer]]) -> None:
    ring, (p0, p1) = rings
    assert not ring.pending()
    for ts in (10, 11, 12):
        p0.write(ts)
    p1.write(20)
    assert ring.pending()
    got = ring.drain()
    assert list(got["ev"]["ts_ns"]) == [10, 11, 12, 20]
    assert list(got["ev"]["cpu"]) == [0, 0, 0, 1]
    assert (p0.tail(), p1.tail()) == (3, 1)  # the slots are the probes' again
    assert not ring.pending() and len(ring.drain()) == 0
    assert ring.produced() == 4


def test_wraps_and_refuses_when_full(rings: tuple[CpuRing, list[Producer]]) -> None:
    ring, (p0, _) = rings
    for ts in range(5):
        p0.write(ts)
    assert list(ring.drain()["ev"]["ts_ns"]) == list(range(5))
    written = [ts for ts in range(100, 100 + SLOTS + 3) if p0.write(ts)]
    assert written == list(range(100, 100 + SLOTS))  # the rest refused: the ring held SLOTS
    got = ring.drain()  # slots 5..7, then 0..4: one record run across the ring's end
    assert list(got["ev"]["ts_ns"]) == written
    assert p0.write(999) and list(ring.drain()["ev"]["ts_ns"]) == [999]


def test_partial_drain_leaves_the_rest(rings: tuple[CpuRing, list[Producer]]) -> None:
    ring, (p0, p1) = rings
    for ts in range(4):
        p0.write(ts)
    p1.write(50)
    first = ring.drain(max_records=3)
    assert list(first["ev"]["ts_ns"]) == [0, 1, 2]
    assert first.flags.writeable  # as RingBuffer.drain's: the drain's consumers may write
    assert list(ring.drain()["ev"]["ts_ns"]) == [3, 50]


def test_rings_do_not_share_positions() -> None:
    rec = hop_record_dtype()
    pos_mem = mmap.mmap(-1, map_bytes(NCPU * RINGS, POS_WORDS * 8))
    pos = CpuPositions(pos_mem, NCPU)
    hops = CpuRing(mmap.mmap(-1, map_bytes(NCPU * SLOTS, rec.itemsize)), pos, Ring.HOPS, SLOTS, rec)
    raws_data = mmap.mmap(-1, map_bytes(NCPU * SLOTS, rec.itemsize))
    raws = CpuRing(raws_data, pos, Ring.RAWS, SLOTS, rec)
    Producer(raws_data, pos_mem, 1, Ring.RAWS).write(7)
    assert not hops.pending() and raws.pending()
    assert list(raws.drain()["ev"]["ts_ns"]) == [7]


@pytest.mark.parametrize(("ring_bytes", "slot", "ncpu", "want"), [
    (2 << 20, 88, 2, 16384),     # a 2 MiB ring's worth of 88-byte slots per CPU, as a power of two
    (8 << 20, 208, 2, 32768),
    (8 << 20, 208, 64, 2048),    # 64 CPUs: all of them together hold 4 rings' worth
    (1 << 20, 208, 256, 256),    # the many-CPU cap stops at MIN_SLOTS
    (4096, 208, 1, 16),          # a 1-page ring asked for: 19 slots, as a power of two
    (100, 208, 2, 1),            # smaller than a slot: still one
])
def test_slots_per_cpu(ring_bytes: int, slot: int, ncpu: int, want: int) -> None:
    assert slots_per_cpu(ring_bytes, slot, ncpu) == want


@pytest.mark.parametrize(("text", "count", "limit"),
                         [("0-1\n", 2, 2), ("0", 1, 1), ("0-3,8-11", 8, 12), ("0,2", 2, 3)])
def test_possible_cpus(text: str, count: int, limit: int) -> None:
    """Gaps in the ids: fewer per-CPU map values than ring indexes."""
    cpus = PossibleCpus.parse(text)
    assert (cpus.count, cpus.id_limit) == (count, limit)


def test_ring_names_match_brtrace_c() -> None:
    """The map names and macro prefixes brtrace.c declares (cpu_hops, HOP_SLOTS)."""
    src = (Path(__file__).resolve().parents[2] / "probes" / "brtrace.c").read_text()
    for ring in Ring:
        assert f"{ring.map_name.decode()}," in src or f"{ring.map_name.decode()})" in src, ring
        assert f"{ring.record_kind}_SLOTS" in src and f"CPU_RING_{ring.name}" in src, ring
