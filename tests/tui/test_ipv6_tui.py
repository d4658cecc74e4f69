"""IPv6 in the TUI: the packet list, the hop table and the map replay samples/ipv6-ping.brt."""

from __future__ import annotations

from dataclasses import replace

from tests.tui.conftest import SAMPLES, screen_text
from tracer.record import ReplaySource
from tracer.topology.groups import device_text
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
        assert "╞═══" in text and "underlay" in text  # the map (not the tree) at 160 columns
        hops = app.query_one(JourneyTable).hops
        routes = [h.action for h in hops if h.verb == "route" and h.netns == "node1"]
        assert any("fd00:10:244:1::3 matches fd00:10:244:1::/64 via fd00:10:244:1:: dev flannel.1" in a
                   for a in routes), routes
        assert {"pod-a", "node1", "node2", "pod-b"} <= {h.netns for h in hops}


def test_a_device_with_only_ipv6_shows_its_global_address() -> None:
    """A dual-stack device shows its IPv4 address (the map must fit); an IPv6-only one its
    global IPv6 address, not the link-local every device has."""
    src = ReplaySource(SAMPLES / "ipv6-ping.brt")
    topo = src.info.topology
    src.close()
    ns = next(n for n in topo.namespaces if n.label == "pod-a")
    eth0 = next(ln for ln in ns.links if ln.name == "eth0")
    assert device_text(topo, ns, eth0).endswith(" 10.244.0.2/24")
    only6 = replace(eth0, addresses=tuple(a for a in eth0.addresses if a.family == 6))
    assert device_text(topo, ns, only6).endswith(" fd00:10:244::2/64")
    ll = replace(eth0, addresses=tuple(a for a in eth0.addresses if a.address.startswith("fe80:")))
    assert ll.addresses and device_text(topo, ns, ll) == "eth0"
