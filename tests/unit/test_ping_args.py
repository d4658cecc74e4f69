"""``brtrace ping`` arguments (issue 18, items 3 and 8): destinations it cannot
trace are refused with one line, and without --from the source is the
namespace that reaches DEST directly."""

from __future__ import annotations

import pytest

from tracer.errors import BrtraceError
from tracer.ping import choose_source, parse_dest
from tracer.topology.model import Address, Link, Netns, PeerRef, RouteEntry, Topology


@pytest.mark.parametrize("dest,word", [("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"),
                                       ("239.1.2.3", "multicast"), ("0.0.0.0", "0.0.0.0")])
def test_destinations_without_one_path_are_refused_in_one_line(dest: str, word: str) -> None:
    with pytest.raises(BrtraceError) as exc:
        parse_dest(dest)
    assert word in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.exit_code == 2


def test_unicast_passes() -> None:
    assert parse_dest("10.244.1.3") == "10.244.1.3"


def _topo() -> Topology:
    """node1 with cni0 (10.244.0.1/24) and eth0 on 192.168.50.0/24; pod-a behind cni0."""
    pod = Netns("brt-pod-a", 2, links=(
        Link(2, "eth0", "veth", peer=PeerRef(1, 5), addresses=(Address("10.244.0.2", 24),)),),
        routes=(RouteEntry("10.244.0.0/24", ifindex=2, scope="link"),
                RouteEntry("default", gateway="10.244.0.1", ifindex=2)))
    node = Netns("brt-node1", 1, links=(
        Link(3, "eth0", "veth", addresses=(Address("192.168.50.11", 24),)),
        Link(4, "cni0", "bridge", addresses=(Address("10.244.0.1", 24),)),
        Link(5, "veth-pod-a", "veth", master=4, peer=PeerRef(2, 2))),
        routes=(RouteEntry("192.168.50.0/24", ifindex=3, scope="link"),
                RouteEntry("10.244.0.0/24", ifindex=4, scope="link")))
    return Topology(namespaces=(pod, node))


def test_a_connected_route_wins_over_a_pods_default_route() -> None:
    assert choose_source(_topo(), "192.168.50.12", None).name == "brt-node1"


def test_pods_still_come_first_on_their_own_subnet() -> None:
    assert choose_source(_topo(), "10.244.0.3", None).name == "brt-pod-a"
