"""Light rows (issue 18, item 2): a settled packet keeps only its row in memory,
and selecting it rebuilds from the spilled events the very hops it had."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from tests.support.synth import flannel_batch
from tests.tui.conftest import ListSource, sample_events
from tracer.correlate import Correlator
from tracer.correlate.pairing import Packet, PacketBook
from tracer.model import ICMP_ECHO, ICMP_ECHOREPLY, Event
from tracer.schema.decode import Decoder
from tracer.source import SourceInfo
from tracer.topology.model import Topology
from tui.app import BrtraceApp
from tui.pump import FLUSH_INTERVAL_S
from tui.widgets.detail import DetailPane
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList

COPIES = 12  # the recorded 3 probes (0.4 s), repeated every 0.5 s: 6 s of event time


class PacedSource(ListSource):
    """Polls a flush interval apart, so each batch reaches the app as its own message
    (as a live source's do): the correlator hands journeys out between them."""

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        time.sleep(FLUSH_INTERVAL_S)
        return super().poll(timeout_ms)


def _echo_flood() -> tuple[SourceInfo, list[Event]]:
    """The recorded flannel ping repeated with new sequence numbers and IP ids."""
    info, events = sample_events()
    out: list[Event] = []
    for k in range(COPIES):
        for e in events:
            out.append(replace(e, ts_ns=e.ts_ns + k * 500_000_000, outer=_renum(e.outer, k),
                               inner=_renum(e.inner, k) if e.inner is not None else None))
    return info, out


def _renum(key, k: int):  # type: ignore[no-untyped-def]
    if key.proto == 1 and key.icmp_type in (ICMP_ECHO, ICMP_ECHOREPLY):
        key = replace(key, dport=key.dport + 3 * k)
    return replace(key, ip_id=(key.ip_id + 100 * k) & 0xFFFF) if key.ip_id else key


def _udp_flood() -> tuple[SourceInfo, list[Event]]:
    """500 synthetic UDP packets across the flannel VXLAN path, 10 ms apart (5 s)."""
    arr = flannel_batch(500 * 18, pkt_gap_ns=10_000_000)
    return SourceInfo(live=False, topology=Topology()), list(Decoder().decode(arr))


def _reference(info: SourceInfo, events: list[Event]) -> dict[tuple[str, int], Packet]:
    """Every packet with its hops, as the book builds them when nothing is made light."""
    corr, book = Correlator(), PacketBook(info.topology)
    for i in range(0, len(events), 40):
        book.update(corr, corr.feed(events[i:i + 40]))
    book.update(corr, set(), final=True)
    return {(p.what, p.t0): p for p in book.packets.values()}


async def _check_rebuilt(info: SourceInfo, events: list[Event]) -> None:
    ref = _reference(info, events)
    app = BrtraceApp(PacedSource(info, events, batch=len(events) // 20), rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        light = [p for p in app.book.packets.values() if p.light]
        assert app.rows.light == len(light) and len(light) >= len(ref) // 3
        assert len(app.query_one(PacketList).rows) == len(ref)  # every packet still listed
        for p in light:
            assert not p.request and not p.reply  # the row alone is kept
            full = app.rows.full(p.pid)
            assert full is not None and not full.light
            want = ref[(p.what, p.t0)]
            assert (p.status, p.rtt_ns, p.places) == (want.status, want.rtt_ns, want.places)
            assert full.request == want.request and full.reply == want.reply
            assert full.hops  # not vacuous: hops came back
        # selecting a light row in the list shows its hops and decodes their headers
        plist = app.query_one(PacketList)
        app.action_toggle_follow()  # off
        plist.select_pid(light[0].pid)
        await pilot.pause()
        table = app.query_one(JourneyTable)
        assert table.pid == light[0].pid
        assert table.hops == list(ref[(light[0].what, light[0].t0)].hops)
        detail = app.query_one(DetailPane).lines
        assert any("seen by" in line.plain for line in detail)  # the rebuilt hop has its events


async def test_echo_rows_made_light_rebuild_the_same_hops() -> None:
    await _check_rebuilt(*_echo_flood())


async def test_udp_rows_made_light_rebuild_the_same_hops() -> None:
    await _check_rebuilt(*_udp_flood())
