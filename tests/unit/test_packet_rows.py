"""A light packet is a row of columns (issue 18): read back, it is the packet it was, minus its hops,
and a flood's worth of them costs a small fraction of what a Packet object each did."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path

import pytest

from tracer.correlate import Correlator
from tracer.correlate.packet import Packet, PacketRows, echo_what
from tracer.correlate.pairing import PacketBook
from tracer.correlate.vocab import Status
from tracer.record import open_recording

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ROW_BYTES = 100  # a light row's budget; a light Packet object with its own strings and ints was ~630 B


def _book(sample: str) -> PacketBook:
    with open_recording(SAMPLES / sample) as rec:
        corr, book = Correlator(), PacketBook(rec.info.topology)
        for batch in rec.batches():
            book.update(corr, corr.feed(batch))
        book.update(corr, set(), final=True)
    return book


def _row(p: Packet) -> dict[str, object]:
    """Everything a light packet keeps: its fields without the hops."""
    d = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    del d["request"], d["reply"], d["light"], d["t_first"]
    d["t0"] = p.t0
    return d


@pytest.mark.parametrize("sample", ["flannel-ping.brt", "docker-nat.brt", "arp-fdb.brt",
                                    "bridge-drop.brt", "ipv6-ping.brt"])
def test_a_light_packet_reads_back_as_it_was(sample: str) -> None:
    book = _book(sample)
    before = {pid: _row(p) for pid, p in book.packets.items()}
    kinds = {p.echo for p in book.packets.values()}
    assert kinds == ({False, True} if sample == "arp-fdb.brt" else {True}), kinds  # ARP: a stored what
    for pid in list(book.packets):
        assert book.lighten(pid)
    assert book.packets.light == len(before) and list(book.packets) == list(before)
    for pid, want in before.items():
        p = book.packets[pid]
        assert p.light and p.hops == () and book.packets.is_light(pid)
        assert _row(p) == want, pid


def test_rows_are_numbered_and_bounded() -> None:
    rows = PacketRows()
    rows.add(Packet(1, echo_what(7, 0x42), echo=True, seq=7, ident=0x42))
    with pytest.raises(ValueError):
        rows.add(Packet(3, "arp"))
    odd = Packet(2, "icmp seq 8 id 0x0042 (renamed)", echo=True, seq=8, ident=0x42,
                 status=Status.UNANSWERED, error="No route to host", light=True)
    rows.add(odd)
    rows.lighten(odd)
    assert rows[2].what == odd.what and rows[2].error == odd.error and rows[2].rtt_ns is None
    assert rows[1] is rows[1] and not rows.is_light(1)  # still an object: it may change
    assert 0 not in rows and 3 not in rows and 2 in rows and len(rows) == 2
    with pytest.raises(KeyError):
        rows[3]


def test_a_flood_of_light_rows_is_small() -> None:
    """20,000 settled echoes (as ``ping -i 0.002`` lists them) cost at most ROW_BYTES each."""
    rows, n = PacketRows(), 20_000
    places = frozenset({"brt-pod-a eth0", "brt-node1 cni0"})
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for pid in range(1, n + 1):
            p = Packet(pid, echo_what(pid % 65536, 0x1234), src="10.244.0.2", dst="10.244.1.3",
                       status=Status.DELIVERED, rtt_ns=100_000 + pid, echo=True, seq=pid % 65536,
                       ident=0x1234, places=places, t_first=1_700_000_000_000_000_000 + pid * 2_000_000)
            rows.add(p)
            p.light = True
            rows.lighten(p)
        per_row = (tracemalloc.get_traced_memory()[0] - start) / n
    finally:
        tracemalloc.stop()
    assert per_row <= ROW_BYTES, per_row
    assert rows[n].rtt_ns == 100_000 + n and rows[n].what == echo_what(n % 65536, 0x1234)
