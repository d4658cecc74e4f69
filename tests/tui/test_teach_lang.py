"""The TUI's `e` speaks the language given with --lang (issue 21 item 4)."""

from __future__ import annotations

import os

from rich.console import Console, Group

from tests.tui.conftest import SAMPLE
from tracer.correlate.vocab import Verb
from tracer.record import ReplaySource
from tui.app import BrtraceApp
from tui.widgets.detail import DetailPane
from tui.widgets.journey import JourneyTable


def _plain(lines: Group) -> str:
    with open(os.devnull, "w") as sink:
        console = Console(width=200, record=True, color_system=None, file=sink)
        console.print(lines)
        return console.export_text()


async def test_e_explains_in_the_language_given() -> None:
    app = BrtraceApp(ReplaySource(SAMPLE), label="replay flannel-ping.brt", rate_interval=None,
                     lang="zh")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()  # the whole recording loaded, as tests/tui/test_app.py
        await pilot.pause()
        await pilot.pause()
        table = app.query_one(JourneyTable)
        up = next(i for i, h in enumerate(table.hops) if h.verb == Verb.BRIDGE_UP)
        table.move_cursor(row=up)
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert app.teach == "zh"
        text = _plain(Group(*app.query_one(DetailPane).lines))
        assert "目的 MAC 就是网桥自己的 MAC" in text
        assert any(f"网桥 cni0 把帧交给 {n} 的 IP 协议栈" in text for n in ("node1", "node2"))
        assert "passes the frame up" not in text
        # a route lookup is explained knowing its packet, as --explain does: the echo request's
        # delivery is decided at pod-b's lookup, where the kernel answers it (icmp_echo)
        local = next(i for i, h in enumerate(table.hops)
                     if h.verb == Verb.ROUTE_LOCAL and h.netns == "pod-b")
        table.move_cursor(row=local)
        await pilot.pause()
        assert "icmp_echo" in _plain(Group(*app.query_one(DetailPane).lines))
        await pilot.press("q")
