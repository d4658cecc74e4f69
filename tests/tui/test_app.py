"""Pilot-driven tests of the TUI on the recorded flannel ping (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console, Group

from tests.tui.conftest import EVIL, SAMPLE, ListSource, dropped_events, evil_events
from tracer.correlate.vocab import Verb
from tracer.record import ReplaySource, open_recording
from tui.app import BrtraceApp
from tui.widgets.detail import DetailPane
from tui.widgets.journey import JourneyTable
from tui.widgets.map_view import MapView
from tui.widgets.packet_list import PacketList
from tui.widgets.status import StatusBar
from tui.widgets.topology import TopologyPane


def _app(source=None, **kw) -> BrtraceApp:  # type: ignore[no-untyped-def]
    return BrtraceApp(source or ReplaySource(SAMPLE), label="replay flannel-ping.brt",
                      rate_interval=None, **kw)


async def _loaded(app: BrtraceApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def _plain(renderable: object, width: int = 200) -> str:
    with open(os.devnull, "w") as sink:
        con = Console(width=width, record=True, file=sink)
        con.print(renderable)
        return con.export_text()


async def test_replay_lists_every_probe_delivered_with_rtt() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        plist = app.query_one(PacketList)
        assert list(plist.rows) == [1, 2, 3]
        for p in app.book.packets.values():
            assert p.status == "delivered" and p.rtt_ns and p.rtt_ns > 0
            assert p.request and p.reply
        assert app.facts.events == 156 and app.facts.done and app.facts.lost == 0
        # follow mode: the newest packet and its last hop are selected
        assert plist.selected == 3
        table = app.query_one(JourneyTable)
        assert table.pid == 3 and table.cursor_row == len(table.hops) - 1


async def test_select_packets_and_step_hops() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("p", "p")
        await pilot.pause()
        table = app.query_one(JourneyTable)
        assert app.query_one(PacketList).selected == 1 and table.pid == 1
        assert not app.facts.follow
        assert table.cursor_row == 0  # another packet starts at its first hop
        await pilot.press("k")  # already at the first hop: stays
        await pilot.pause()
        assert table.cursor_row == 0
        # walk forward: the map marks each hop's device
        for want in range(1, 4):
            await pilot.press("j")
            await pilot.pause()
            hop = table.hops[want]
            assert table.cursor_row == want
            marks = app.query_one(TopologyPane).marks
            assert marks.current == (hop.netns_inode, hop.ifindex)
            detail = _plain(Group(*app.query_one(DetailPane).lines))
            assert f"hop {hop.index}" in detail
        await pilot.press("n")
        await pilot.pause()
        assert app.query_one(PacketList).selected == 2 and table.pid == 2


async def test_detail_decodes_vxlan_and_inner_headers() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        table = app.query_one(JourneyTable)
        row = next(i for i, h in enumerate(table.hops) if h.verb == Verb.SEND_ENCAP)
        table.move_cursor(row=row)
        await pilot.pause()
        text = _plain(Group(*app.query_one(DetailPane).lines))
        assert "UDP" in text and "8472" in text and "VXLAN" in text and "vni 1" in text
        assert "echo-request" in text and "10.244.0.2 → 10.244.1.3" in text
        assert "net_dev_queue (raw_tracepoint)" in text


async def test_mouse_click_selects_packet() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.click(PacketList, offset=(3, 0))
        await pilot.pause()
        assert app.query_one(PacketList).selected == 1
        assert app.query_one(JourneyTable).pid == 1


async def test_pause_holds_events_until_resumed() -> None:
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events, batch=5), label="test", rate_interval=None)
    app.facts.paused = True
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        assert list(app.query_one(PacketList).rows) == []
        assert sum(e.events for e in app.held) == len(events) and app.facts.events == len(events)
        await pilot.press("space")
        await pilot.pause()
        assert not app.facts.paused and app.held == []
        assert list(app.query_one(PacketList).rows) == [1, 2, 3]


async def test_dropped_hop_is_red_with_reason_and_location() -> None:
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events), label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        p3 = app.book.packets[3]
        assert p3.status == "dropped" and p3.rtt_ns is None
        assert [app.book.packets[i].status for i in (1, 2)] == ["delivered", "delivered"]
        table = app.query_one(JourneyTable)
        assert table.pid == 3
        drop_row = next(i for i, h in enumerate(table.hops) if h.verb == Verb.DROP)
        cells = table.get_row_at(drop_row)
        assert all("red" in str(c.style) for c in cells)
        assert "NETFILTER_DROP" in cells[-1].plain and "nf_hook_slow+0x9c" in cells[-1].plain
        table.move_cursor(row=drop_row)
        await pilot.pause()
        assert app.query_one(TopologyPane).marks.dropped
        assert "NETFILTER_DROP" in _plain(Group(*app.query_one(DetailPane).lines))


async def test_filter_by_status_and_netns() -> None:
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events), label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"dropped")
        await pilot.pause()
        plist = app.query_one(PacketList)
        assert list(plist.rows) == [3] and app.filter_text == "dropped"
        assert app.facts.follow  # typing j/k/n/p/f into the box is text, not a key action
        await pilot.press("escape")
        await pilot.pause()
        assert plist.has_focus
        app.set_filter("pod-b veth-pod-b")
        assert list(plist.rows) == []
        app.set_filter("node2 veth-pod-b")
        assert list(plist.rows) == [1, 2]
        app.set_filter("")
        assert list(plist.rows) == [1, 2, 3]


async def test_save_writes_what_was_seen(tmp_path: Path) -> None:
    app = _app(save_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.saved) == 1
        with open_recording(app.saved[0]) as rec:
            events = rec.events()
            assert rec.complete and rec.info.topology == app.topo
        assert len(events) == 156
        assert any(app.saved[0] in str(n.message) for n in app._notifications)


async def test_lost_events_are_shown() -> None:
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events, lost=42), label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        status = app.query_one(StatusBar).text.plain
        assert "lost 42" in status and "7 raw_tracepoint" in status and "9 off" in status


async def test_names_are_inert_everywhere() -> None:
    info, events = evil_events()
    app = BrtraceApp(ListSource(info, events), label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        table = app.query_one(JourneyTable)
        row = next(i for i, h in enumerate(table.hops) if "evil" in h.dev)
        table.move_cursor(row=row)
        await pilot.pause()
        shown = "[red]evil\\x1b[2J"
        assert any(c.plain == shown for c in table.get_row_at(row))
        map_text = _plain(app.query_one(MapView).render())
        assert shown in map_text and "\x1b" not in map_text
        detail = _plain(Group(*app.query_one(DetailPane).lines))
        assert shown in detail
        assert EVIL not in app.export_screenshot()


async def test_tree_fallback_when_too_narrow() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        pane = app.query_one(TopologyPane)
        assert not pane.query_one("#map-scroll").display
        assert pane.query_one("#topo-tree").display
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        assert app.query_one(TopologyPane).query_one("#map-scroll").display


async def test_help_screen_and_quit_stops_source() -> None:
    src = ListSource(*dropped_events())
    app = BrtraceApp(src, label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "HelpScreen"
        await pilot.press("q")
    assert app.stop_source(1.0) and src.closed


async def test_teaching_toggle_explains_the_selected_hop() -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        table = app.query_one(JourneyTable)
        up = next(i for i, h in enumerate(table.hops) if h.verb == Verb.BRIDGE_UP)
        table.move_cursor(row=up)
        await pilot.pause()
        detail = app.query_one(DetailPane)
        assert "MAC is the bridge's own MAC" not in _plain(Group(*detail.lines))
        await pilot.press("e")
        await pilot.pause()
        assert app.teach == "en"
        assert "destination MAC is the bridge's own MAC" in _plain(Group(*detail.lines))
        await pilot.press("e")
        await pilot.pause()
        assert "MAC is the bridge's own MAC" not in _plain(Group(*detail.lines))


async def test_columnar_replay_lists_what_the_text_replay_prints(tmp_path: Path) -> None:
    """A raw recording replays as the probe's record batches, like a live source: the app
    files them columnar, lists the same packets as ``replay --plain``, and saves them all."""
    from tracer.correlate import Correlator
    from tracer.correlate.pairing import PacketBook

    raw = Path(__file__).resolve().parents[2] / "samples" / "flannel-ping.brt"
    with open_recording(raw) as rec:
        corr, book = Correlator(), PacketBook(rec.info.topology)
        for batch in rec.batches():
            book.update(corr, corr.feed(list(batch)))  # Events: the row-by-row path
        book.update(corr, set(), final=True)
        total = sum(len(j.events) for j in corr.journeys.values())
    want = [(p.what, p.status, [h.verb for h in p.hops]) for p in book.packets.values()]
    app = _app(ReplaySource(raw), save_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(app, pilot)
        assert app.seen.events == total  # spilled to disk as polled (tracer/record/spill.py)
        got = [(p.what, p.status, [h.verb for h in p.hops]) for p in app.book.packets.values()]
        assert got == want and len(want) >= 3
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    with open_recording(app.saved[0]) as saved:
        assert all(hasattr(b, "arr") for b in saved.batches())  # the probe's records, as polled
        assert len(saved.events()) == app.facts.events == total


def test_app_state_shadows_nothing_of_textual() -> None:
    """The app's own state never overwrites Textual's (it once replaced the private App._modes,
    Textual's screen-mode registry, with a hook → mode map)."""
    from textual.app import App

    from tui.state import AppState

    ours = set(AppState.__annotations__)
    textual = set(vars(App())) | set(dir(App))
    assert len(ours) >= 15
    assert not ours & textual, sorted(ours & textual)
