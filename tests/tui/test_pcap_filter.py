"""pcap-filter expressions typed into the TUI's filter box (issue 23, item 1), on the real samples.

What the box lists is held to tcpdump itself: each sample is exported to
pcapng (``brtrace export --pcap``), ``tcpdump -r`` selects packets with the same
expression, each selected packet is mapped back to its event by its
nanosecond timestamp, and the packets (journeys paired as the TUI pairs them)
holding such an event are the ones the box must list.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from probes.pcap import offline_filter
from tests.tui.conftest import ListSource, sample_events
from tests.tui.test_app import _loaded
from tests.tui.test_light_rows import PacedSource, _echo_flood, _reference
from tracer.correlate import Correlator
from tracer.correlate.pairing import PacketBook
from tracer.model import Event
from tracer.record import ReplaySource, open_recording
from tracer.record.pcap import export_pcapng
from tui import filtering
from tui.app import BrtraceApp
from tui.pcapmatch import packet_matches
from tui.widgets.packet_list import PacketList
from tui.widgets.status import StatusBar

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples").glob("*.brt"))
EXPRESSIONS = ["icmp", "icmp and host 10.244.1.3", "udp port 8472", "not icmp", "arp",
               "icmp[icmptype] = icmp-echoreply", "ip[8] < 64", "tcp or udp", "ether broadcast"]
STAMP = re.compile(r"^(\d+)\.(\d{9}) ", re.M)
TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"


def _events(path: Path) -> list[Event]:
    with open_recording(path) as rec:
        return [e for batch in rec.batches() for e in batch]


def _tcpdump_stamps(pcap: Path, expr: str) -> list[int]:
    """Nanosecond timestamps of the packets tcpdump selects from ``pcap`` with ``expr``."""
    out = subprocess.run([TCPDUMP, "-r", str(pcap), "-n", "-tt", "--time-stamp-precision=nano", expr],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    # one line per packet starts with its time; a decoded VXLAN payload adds indented lines
    return [int(m[1]) * 1_000_000_000 + int(m[2]) for m in STAMP.finditer(out)]


def _expected(path: Path, tmp: Path, expr: str) -> set[str]:
    """The packets (by their row text) holding an event tcpdump selects on the export."""
    pcap = tmp / f"{path.stem}.pcapng"
    if not pcap.exists():
        export_pcapng(path, pcap)
    events = _events(path)
    first_ts = next(e.ts_ns for e in events if e.headers)  # the export's first packet
    every = _tcpdump_stamps(pcap, "")
    base = every[0]  # the export anchors the first packet at the recording's start
    chosen = {s - base + first_ts for s in _tcpdump_stamps(pcap, expr)}
    corr, book = Correlator(), PacketBook(ReplaySource(path).info.topology)
    book.update(corr, corr.feed(events), final=True)
    return {_row(p.pid, book) for p in book.packets.values()
            if any(e.ts_ns in chosen for h in p.hops for e in h.events)}


def _row(pid: int, book: PacketBook) -> str:
    p = book.packets[pid]
    return f"{p.what} {p.src} {p.dst} {p.t0}"


async def _typed(app: BrtraceApp, pilot, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    await pilot.press("slash")
    await pilot.press(*["space" if c == " " else c for c in text])  # pilot names the space key
    await pilot.pause()
    return list(app.query_one(PacketList).rows)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
async def test_typed_expressions_list_what_tcpdump_selects(sample: Path, tmp_path: Path) -> None:
    app = BrtraceApp(ReplaySource(sample), label="replay", rate_interval=None, compile_filter=offline_filter)
    counts = []
    async with app.run_test(size=(140, 40)) as pilot:
        await _loaded(app, pilot)
        for expr in EXPRESSIONS:
            want = _expected(sample, tmp_path, expr)
            rows = await _typed(app, pilot, expr)
            assert app.pcap is not None and app.pcap.expr == expr
            got = {_row(pid, app.book) for pid in rows}
            assert len(rows) == len(want), (expr, sorted(got ^ want))
            assert got == want, expr
            counts.append(len(rows))
            app.query_one("#filter").value = ""  # type: ignore[attr-defined]
            await pilot.press("escape")
    assert 0 in counts and max(counts) > 0, "the expressions must select some packets and not others"


async def test_old_words_keep_working_and_neither_says_why() -> None:
    sample = ROOT / "samples" / "flannel-ping.brt"
    app = BrtraceApp(ReplaySource(sample), label="replay", rate_interval=None, compile_filter=offline_filter)
    async with app.run_test(size=(160, 40)) as pilot:
        await _loaded(app, pilot)
        everything = len(app.book.packets)
        rows = await _typed(app, pilot, "pod-b")  # no pcap word: the old search over places
        assert app.pcap is None and 0 < len(rows) <= everything
        assert "filter selects nothing" not in app.query_one(StatusBar).text.plain
        app.set_filter("delivered")
        assert app.pcap is None and app.query_one(PacketList).rows
        app.set_filter("icmp and hots 10.244.1.3")  # neither pcap nor any packet's text
        await pilot.pause()
        status = app.query_one(StatusBar).text.plain
        assert not app.query_one(PacketList).rows
        assert "filter selects nothing: 'hots' is no pcap word" in status
        app.set_filter("icmp and (")
        await pilot.pause()
        assert "syntax error" in app.query_one(StatusBar).text.plain
        app.set_filter("")
        await pilot.pause()
        assert len(app.query_one(PacketList).rows) == everything
        assert "filter selects" not in app.query_one(StatusBar).text.plain


async def test_inner_matches_the_frame_inside_vxlan_as_the_kernel_does() -> None:
    """Only the encapsulated crossings of the flannel sample: their outer packet
    is UDP 8472, so ``icmp`` selects none of them and ``inner icmp`` all."""
    sample = ROOT / "samples" / "flannel-ping.brt"
    src = ReplaySource(sample)
    encapsulated = [e for e in _events(sample) if e.vni and e.headers]
    assert encapsulated
    info = replace(src.info)
    app = BrtraceApp(ListSource(info, encapsulated), label="test", rate_interval=None,
                     compile_filter=offline_filter)
    async with app.run_test(size=(140, 40)) as pilot:
        await _loaded(app, pilot)
        everything = list(app.book.packets)
        assert everything
        assert await _typed(app, pilot, "icmp") == []
        app.set_filter("udp port 8472")
        assert list(app.query_one(PacketList).rows) == everything
        app.set_filter("inner icmp")
        assert app.pcap is not None and app.pcap.inner
        assert list(app.query_one(PacketList).rows) == everything
        app.set_filter("inner icmp and host 10.9.9.9")
        assert list(app.query_one(PacketList).rows) == []


async def test_light_rows_are_judged_from_the_spill_as_heavy_ones_are() -> None:
    """Packets made light (their hops gone, issue 18) are judged by re-reading
    the spill: the same packets as a book that kept every hop."""
    info, events = _echo_flood()
    ref = _reference(info, events)
    first_id = next(e.headers[18:20] for e in events if e.headers and not e.headers_l3 and e.vni == 0)
    exprs = ["icmp", f"ip[4:2] = {int.from_bytes(first_id, 'big')}", "udp port 8472", "arp"]
    app = BrtraceApp(PacedSource(info, events, batch=len(events) // 20), rate_interval=None,
                     compile_filter=offline_filter)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert sum(p.light for p in app.book.packets.values()) >= len(ref) // 3
        counts = []
        for expr in exprs:
            app.set_filter(expr)
            flt = app.pcap
            assert flt is not None
            want = {key for key, p in ref.items() if packet_matches(flt, p)}
            got = {(app.book.packets[pid].what, app.book.packets[pid].t0)
                   for pid in app.query_one(PacketList).rows}
            assert got == want, expr
            counts.append(len(got))
        assert 0 in counts and 0 < min(c for c in counts if c) < len(ref), counts


async def test_live_packets_join_when_a_later_crossing_matches() -> None:
    """Typed before the events arrive: a ping's packet is listed by ``udp port
    8472`` once its VXLAN crossing comes in, not judged on its first hops only."""
    info, events = sample_events()
    app = BrtraceApp(PacedSource(info, events, batch=8), rate_interval=None, compile_filter=offline_filter)
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_filter("udp port 8472")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        live = list(app.query_one(PacketList).rows)
        app.set_filter("udp port 8472")  # the same expression over everything, afterwards
        assert live and sorted(live) == sorted(app.query_one(PacketList).rows) == list(app.book.packets)


async def test_a_long_list_filters_once_typing_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filtering, "DEBOUNCE_FROM", 1)  # the sample's few packets count as long
    app = BrtraceApp(ReplaySource(ROOT / "samples" / "flannel-ping.brt"), rate_interval=None,
                     compile_filter=offline_filter)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("slash", *"arp")
        assert app.pcap is None and app.query_one(PacketList).rows  # not yet: still typing
        await pilot.pause(filtering.DEBOUNCE_S + 0.3)
        assert app.pcap is not None and app.pcap.expr == "arp"
        assert list(app.query_one(PacketList).rows) == []
        await pilot.press("backspace", "backspace", "backspace", *"icmp", "enter")  # the box has focus
        await pilot.pause()
        assert app.pcap is not None and app.pcap.expr == "icmp"  # Enter applies it at once
        assert len(app.query_one(PacketList).rows) == len(app.book.packets)
