"""IPv6 in the TUI: the packet list, the hop table and the map replay samples/ipv6-ping.brt."""

from __future__ import annotations

from tests.tui.conftest import SAMPLES, screen_text
from tracer.record import ReplaySource
from tui.app import BrtraceApp
from tui.widgets.journey import JourneyTable


async def test_ipv6_replay_lists_packets_and_hops_with_their_addresses() -> None:
    app = BrtraceApp(ReplaySource(SAMPLES / "ipv6-ping.brt"), label="replay", rate_interval=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        text = screen_text(app)
        assert "icmp seq 1 id 0xb7d5  fd00:10:244::2 →" in text, text  # the packet list
        assert "eth0 10.244.0.2/24 fd00:10:244::2/64" in text, text  # the map: both families
        assert "cni0 bridge 10.244.1.1/24 fd00:10:244:1::1/64" in text, text
        hops = app.query_one(JourneyTable).hops
        routes = [h.action for h in hops if h.verb == "route" and h.netns == "node1"]
        assert any("fd00:10:244:1::3 matches fd00:10:244:1::/64 via fd00:10:244:1:: dev flannel.1" in a
                   for a in routes), routes
        assert {"pod-a", "node1", "node2", "pod-b"} <= {h.netns for h in hops}
