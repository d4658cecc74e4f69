"""Across nodes, the status bar shows each node's clock offset and its uncertainty."""

from __future__ import annotations

from tests.tui.conftest import SAMPLE
from tracer.multinode.clock import ClockEstimate, nodes_note
from tracer.record import ReplaySource
from tracer.source import SourceWrapper
from tui.app import BrtraceApp
from tui.widgets.status import StatusBar, status_text


class _Noted(SourceWrapper):
    """A replay with the clock line a RemoteSource gives (tracer/remote/source.py)."""

    def __init__(self) -> None:
        super().__init__(ReplaySource(SAMPLE))
        self.clocks = {"node1": ClockEstimate(0, 40_000), "node2": ClockEstimate(-1_500, 900)}

    def nodes_note(self) -> str:
        return nodes_note(self.clocks, {"node3": "gone: unreachable"} if "node3" in self.clocks else {})


def test_nodes_note_text() -> None:
    c = {"node1": ClockEstimate(0, 40_000), "node2": ClockEstimate(-1_500, 900),
         "node3": ClockEstimate(2_500_000, 10_000)}
    assert nodes_note(c, {"node3": "gone: unreachable"}) == \
        "nodes: node1 +0.0µs ±40.0µs, node2 -1.5µs ±0.9µs, node3 agent gone: unreachable"


async def test_status_bar_shows_node_clocks_and_follows_them() -> None:
    src = _Noted()
    app = BrtraceApp(src, label="live trace", rate_interval=None)
    async with app.run_test(size=(160, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = status_text(app.facts).plain
        assert text.startswith("live trace  nodes: node1 +0.0µs ±40.0µs, node2 -1.5µs ±0.9µs")
        src.clocks["node2"] = ClockEstimate(-1_400, 300)  # tightened by a crossing
        app._show_status()
        assert "node2 -1.4µs ±0.3µs" in status_text(app.facts).plain
        assert app.query_one(StatusBar) is not None
