"""Issue 21: a learner stepping through ``samples/flannel-ping.brt`` at 80×24, 120×30 and 140×42.

Every assertion reads the rendered screen text (what a person sees), not only
widget state: at every hop of every packet the action text is in the journey
row, the map (or the compact path on a narrow terminal) marks the current
hop's device with ▶, and the caption says which way the packet is going.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import SAMPLES, screen_text
from tracer.explain import explain
from tracer.record import ReplaySource
from tracer.render.inert import inert
from tui.app import BrtraceApp
from tui.widgets.journey import JourneyTable
from tui.widgets.map_view import MapView
from tui.widgets.packet_list import PacketList
from tui.widgets.topology import TopologyPane

FLANNEL = SAMPLES / "flannel-ping.brt"
SIZES = [(80, 24), (120, 30), (140, 42)]


def _app(**kw: object) -> BrtraceApp:
    return BrtraceApp(ReplaySource(FLANNEL), label="replay flannel-ping.brt", rate_interval=None,
                      **kw)  # type: ignore[arg-type]


async def _loaded(app: BrtraceApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def _top_pane(screen: str) -> list[str]:
    """The topology pane's lines: from the first line to the packets pane's top border."""
    lines = screen.splitlines()
    end = next(i for i, ln in enumerate(lines) if "packets" in ln and "╭" in ln)
    return lines[:end]


def _check_hop(app: BrtraceApp, screen: str) -> None:
    table = app.query_one(JourneyTable)
    hop = table.current
    assert hop is not None
    action = inert(hop.action)
    nums = [f"{lead}{hop.index}  " for lead in " →←~"]  # "→12": the arrow joins # when narrow
    rows = [ln for ln in screen.splitlines() if any(n in ln for n in nums) and inert(hop.dev) in ln]
    assert any(action[:14] in ln for ln in rows), (hop.index, action, screen)
    top = _top_pane(screen)
    marked = [ln[ln.index("▶") + 1:] for ln in top if "▶" in ln]
    assert len(marked) == 1, screen
    assert marked[0].startswith(inert(hop.dev)), (hop.dev, marked, screen)
    reply = table.cursor_row >= table.n_request
    assert ("reply ←" if reply else "request →") in top[1], top[1]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_every_hop_shows_its_action_and_the_current_hop_on_the_map(size: tuple[int, int]) -> None:
    app = _app(step=True)
    async with app.run_test(size=size) as pilot:
        await _loaded(app, pilot)
        plist, table = app.query_one(PacketList), app.query_one(JourneyTable)
        assert plist.selected == 1 and table.cursor_row == 0  # step mode starts at the beginning
        total = sum(len(p.request) + len(p.reply) for p in app.book.packets.values())
        seen = []
        for _ in range(total):
            await pilot.pause()
            screen = screen_text(app)
            _check_hop(app, screen)
            seen.append((plist.selected, table.cursor_row))
            await pilot.press("right")
        assert len(set(seen)) == total == 3 * 31  # every hop of the three probes, once each
        assert "step at the end" not in screen_text(app)  # no timer: nothing to stop
        assert seen[-1] == (3, 30)


async def test_footer_keeps_every_key_and_help_fits_at_80x24() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        footer = screen_text(app).splitlines()[-1]
        for key in ("spc Pause", "n/p", "j/k", "→ Step", "f Follow", "e Explain", "s Save",
                    "/ Find", "? Help", "q Quit"):
            assert key in footer, footer
        lines = screen_text(app).splitlines()
        assert "pkts" in lines[-2] and "lost 0" in lines[-2]  # the status line above it
        await pilot.press("question_mark")
        await pilot.pause()
        shown = screen_text(app)
        assert "brtrace keys" in shown and "next hop, on into the next packet" in shown
        box = app.screen.query_one("#help-box")
        assert box.region.right <= 80 and box.region.bottom <= 24
        box.scroll_end(animate=False)
        await pilot.pause()
        shown = screen_text(app)
        assert "~ before a hop number means brtrace saw no event there" in shown
        assert "Esc clears it" in shown


async def test_step_keys_cross_packets_and_the_timer_steps() -> None:
    app = _app(step=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await _loaded(app, pilot)
        plist, table = app.query_one(PacketList), app.query_one(JourneyTable)
        assert "step → next hop" in screen_text(app)
        await pilot.press("space", "space")
        await pilot.pause()
        assert table.cursor_row == 2 and plist.selected == 1
        await pilot.press(*["right"] * 29)  # 31 hops: the last one, then into packet 2
        await pilot.pause()
        assert plist.selected == 2 and table.cursor_row == 0
        await pilot.press("left")
        await pilot.pause()
        await pilot.pause()
        assert plist.selected == 1 and table.cursor_row == 30
    timed = _app(step_ms=150)  # 93 hops take 14 s: a slow machine cannot reach the end here
    async with timed.run_test(size=(120, 30)) as pilot:
        await _loaded(timed, pilot)
        await pilot.pause(0.6)
        plist = timed.query_one(PacketList)
        moved = (plist.selected or 0, timed.query_one(JourneyTable).cursor_row)
        assert moved > (1, 0), moved  # the timer stepped on its own
        await pilot.press("space")  # stops it
        await pilot.pause()
        stopped = (plist.selected, timed.query_one(JourneyTable).cursor_row)
        await pilot.pause(0.4)
        assert (plist.selected, timed.query_one(JourneyTable).cursor_row) == stopped
        assert "step stopped" in screen_text(timed)


async def test_step_detail_shows_the_headers_changed_at_the_hop() -> None:
    app = _app(step=True)
    async with app.run_test(size=(140, 42)) as pilot:
        await _loaded(app, pilot)
        await pilot.press(*["right"] * 6)  # request hop 7: sent encapsulated on node1's eth0
        await pilot.pause()
        screen = screen_text(app)
        assert "Δ encapsulated: + outer IP 192.168.50.11 → 192.168.50.12 UDP :8472 VNI 1" in screen
        await pilot.press(*["right"] * 5)  # hop 12: routed into node2's cni0
        await pilot.pause()
        screen = screen_text(app)
        assert "Δ routed: ttl 63 → 62" in screen and "eth src 02:b7:0a:f4:00:00 → fe:cf:08:11:3c:ac" in screen


async def test_filter_matching_nothing_says_so_and_escape_clears_it() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("slash", *"zzz")
        await pilot.pause()
        assert "no packet matches 'zzz' — Esc clears" in screen_text(app)
        journey, pane = app.query_one(JourneyTable), app.query_one("#packets-pane")
        assert journey.outer_size.height == pane.outer_size.height > 5  # the box keeps its shape
        await pilot.press("enter")  # keeps the filter, focus back on the list
        await pilot.pause()
        assert list(app.query_one(PacketList).rows) == []
        await pilot.press("escape")
        await pilot.pause()
        assert list(app.query_one(PacketList).rows) == [1, 2, 3] and app.filter_text == ""
        assert "no packet matches" not in screen_text(app)
        assert "icmp seq 3" in screen_text(app)


async def test_space_on_ended_replay_says_ended_and_explain_starts_at_the_top() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("space")
        await pilot.pause()
        status = screen_text(app).splitlines()[-2]
        assert "ended" in status and "PAUSED" not in status
        detail = app.query_one("#detail")
        detail.scroll_end(animate=False)
        await pilot.pause()
        assert detail.scroll_y > 0
        await pilot.press("e")
        await pilot.pause()
        await pilot.pause()
        hop = app.query_one(JourneyTable).current
        assert hop is not None
        said = inert(explain(hop, "en"))
        assert said[:40] in screen_text(app).replace("\n│", " ")  # the new text is in view
        status = screen_text(app).splitlines()[-2]
        assert "explain (en)" in status and "lost 0" in status  # said in the status line, not over it
        assert not app._notifications


async def test_save_says_the_full_path(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    app = _app(save_dir=".")
    async with app.run_test(size=(120, 30)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications]
        assert any(f"to {tmp_path.resolve()}/brtrace-" in n for n in notes), notes
        screen = screen_text(app).splitlines()
        assert "lost 0" in screen[-2]  # the toast sits above the status line


async def test_tunnel_and_underlay_are_never_drop_red_or_current_yellow() -> None:
    app = _app(step=True)
    async with app.run_test(size=(140, 42)) as pilot:
        await _loaded(app, pilot)
        lay = app.query_one(MapView).lay
        assert lay is not None and lay.tunnels and len(lay.uplinks) == 2
        bases = {lay.canvas.base[y][x] for y in range(lay.height) for x in range(lay.width)
                 if lay.canvas.tags[y][x] in (("tunnel",), ("underlay",))}
        styles = set(bases)
        for _ in range(31):  # every hop of the first probe: the tunnel and underlay as lit at each
            marks = app.query_one(TopologyPane).marks
            styles |= {s for s in (marks.style(("tunnel",), lay), marks.style(("underlay",), lay)) if s}
            await pilot.press("right")
            await pilot.pause()
        assert styles and not any("red" in s or "yellow" in s for s in styles), styles
        assert len(styles - bases) == 4  # request and reply, each travelled and remaining
