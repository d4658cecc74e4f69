"""Topology model, role classification, rendering and JSON on a recorded netlink dump (no root).

``tests/data/labs_netlink_dump.json`` is ``brtrace topo --dump`` of the three
labs (flannel, docker, bridge) after a ping in each, so it holds learned FDB
entries too. Re-record it with that command when the dump format changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracer.lab import LABS, netns_path
from tracer.topology.discover import netns_from_dump, topology_from_dumps
from tracer.topology.model import (
    ROLE_BRIDGE,
    ROLE_LOOPBACK,
    ROLE_NETNS_ETH,
    ROLE_TAP,
    ROLE_UPLINK,
    ROLE_VETH,
    ROLE_VETH_HOST,
    ROLE_VXLAN,
    Address,
    BridgePort,
    Link,
    Netns,
    PeerRef,
    Topology,
)
from tracer.topology.render import from_json, inert, render, to_json

DATA = Path(__file__).resolve().parent.parent / "data" / "labs_netlink_dump.json"


@pytest.fixture(scope="module")
def dumps() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(DATA.read_text())
    return data


@pytest.fixture(scope="module")
def topo(dumps: list[dict[str, Any]]) -> Topology:
    return topology_from_dumps(dumps, taken_at=1.0, hostname="recorded")


def _link(topo: Topology, ns: str, dev: str) -> tuple[Netns, Link]:
    netns = topo.find_netns(ns)
    assert netns is not None, ns
    ln = netns.link_by_name(dev)
    assert ln is not None, f"{ns}/{dev}"
    return netns, ln


def _ns(topo: Topology, ns: str) -> Netns:
    netns = topo.find_netns(ns)
    assert netns is not None, ns
    return netns


def _at(netns: Netns, ifindex: int) -> Link:
    ln = netns.link(ifindex)
    assert ln is not None, f"{netns.label}/{ifindex}"
    return ln


def _named(netns: Netns, dev: str) -> Link:
    ln = netns.link_by_name(dev)
    assert ln is not None, f"{netns.label}/{dev}"
    return ln


def _port(ln: Link) -> BridgePort:
    assert ln.bridge_port is not None, ln.name
    return ln.bridge_port


def _role(topo: Topology, ns: str, dev: str) -> str:
    netns, ln = _link(topo, ns, dev)
    return topo.role(netns.inode, ln.ifindex)


def test_every_lab_namespace_and_device_is_in_the_dump(topo: Topology) -> None:
    for lab in LABS.values():
        for host in lab.hosts:
            netns = topo.find_netns(host)
            assert netns is not None and netns.name == f"brt-{host}"
            assert {ln.name for ln in netns.links} == {"lo", *lab.devices[host]}


@pytest.mark.parametrize("ns,dev,role", [
    ("pod-a", "eth0", ROLE_NETNS_ETH), ("node1", "veth-pod-a", ROLE_VETH_HOST),
    ("node1", "eth0", ROLE_UPLINK), ("node1", "cni0", ROLE_BRIDGE),
    ("node1", "flannel.1", ROLE_VXLAN), ("node1", "lo", ROLE_LOOPBACK),
    ("docker-host", "eth0", ROLE_UPLINK), ("outside", "eth0", ROLE_VETH),
    ("ns0", "veth0", ROLE_NETNS_ETH), ("bridge-host", "tap0", ROLE_TAP),
    ("nns2", "veth21", ROLE_NETNS_ETH), ("bridge-host", "veth20", ROLE_VETH_HOST),
])
def test_roles(topo: Topology, ns: str, dev: str, role: str) -> None:
    assert _role(topo, ns, dev) == role


@pytest.mark.parametrize("a,b", [
    (("pod-a", "eth0"), ("node1", "veth-pod-a")), (("node1", "eth0"), ("node2", "eth0")),
    (("ns1", "veth1"), ("docker-host", "veth1p")), (("outside", "eth0"), ("docker-host", "eth0")),
    (("nns1", "veth11"), ("bridge-host", "veth10")),
])
def test_veth_peers_resolve_across_namespaces_both_ways(topo: Topology, a: tuple[str, str],
                                                       b: tuple[str, str]) -> None:
    ns_a, ln_a = _link(topo, *a)
    ns_b, ln_b = _link(topo, *b)
    assert topo.peer_of(ns_a.inode, ln_a.ifindex) == (ns_b, ln_b)
    assert topo.peer_of(ns_b.inode, ln_b.ifindex) == (ns_a, ln_a)


def test_flannel_node_as_flannel_leaves_it(topo: Topology) -> None:
    node1, vx = _link(topo, "node1", "flannel.1")
    assert vx.vxlan is not None
    vxlan = (vx.vxlan.vni, vx.vxlan.port, vx.vxlan.local, vx.vxlan.learning)
    assert vxlan == (1, 8472, "192.168.50.11", False)
    assert _at(node1, vx.vxlan.underlay_ifindex).name == "eth0"
    assert vx.mtu == 1450 and vx.addresses == (Address("10.244.0.0", 32),)
    route = node1.route_for("10.244.1.3")
    assert route is not None and route.gateway == "10.244.1.0" and route.onlink
    assert _at(node1, route.ifindex).name == "flannel.1"
    neigh = [n for n in node1.neighbours if n.address == "10.244.1.0"]
    _, remote = _link(topo, "node2", "flannel.1")
    assert neigh and neigh[0].lladdr == remote.mac and neigh[0].state == "permanent"
    fdb = [f for f in node1.fdb if f.ifindex == vx.ifindex]
    assert [(f.mac, f.dst) for f in fdb] == [(remote.mac, "192.168.50.12")]
    assert node1.sysctl("net.ipv4.ip_forward") == "1"
    assert node1.sysctl("net.ipv4.conf.flannel.1.rp_filter") == "0"


def test_bridge_ports_and_learned_fdb(topo: Topology) -> None:
    host, br = _link(topo, "bridge-host", "br0")
    ports = {ln.name: ln for ln in host.links if ln.master == br.ifindex}
    assert set(ports) == {"veth10", "veth20", "tap0"}
    assert _port(ports["veth10"]).stp_state == "forwarding"
    assert _port(ports["tap0"]).stp_state == "disabled"  # no VM holds the tap: no carrier
    assert ports["tap0"].state == "no-carrier"
    assert all(p.promisc for p in ports.values())
    _, nns1_eth = _link(topo, "nns1", "veth11")
    learned = [f for f in host.fdb if f.mac == nns1_eth.mac]
    assert learned and learned[0].ifindex == ports["veth10"].ifindex and not learned[0].permanent


def test_outside_cannot_route_back_to_the_containers(topo: Topology) -> None:
    assert _ns(topo, "outside").route_for("192.168.88.2") is None
    owner = topo.netns_owning("192.168.88.2")
    assert owner is not None and owner.label == "ns0"


def test_json_round_trip_is_exact(topo: Topology) -> None:
    again = from_json(to_json(topo))
    assert again == topo
    assert to_json(again) == to_json(topo)


def test_render_tree_mentions_peers_ports_vxlan_routes(topo: Topology) -> None:
    text = render(topo)
    assert "peer: pod-a/eth0" in text and "peer: node1/veth-pod-a" in text
    assert "port of cni0 (forwarding, learning on, hairpin off)" in text
    assert "vxlan: vni 1, local 192.168.50.11, dstport 8472, dev eth0, nolearning" in text
    assert "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink" in text
    assert "dev flannel.1 dst 192.168.50.12 permanent" in text
    assert "table 255" not in text and "table 255" in render(topo, local_routes=True)


def test_peer_in_unknown_namespace_is_not_a_crash(dumps: list[dict[str, Any]]) -> None:
    d = dict(next(x for x in dumps if x["name"] == "brt-pod-a"), nsids={})
    ns = netns_from_dump(d)
    assert _named(ns, "eth0").peer is None
    topo = Topology(namespaces=(ns,))
    assert topo.role(ns.inode, _named(ns, "eth0").ifindex) == ROLE_VETH
    assert "peer: (unknown)" in render(topo)


def test_sparse_dump_gives_sparse_model() -> None:
    ns = netns_from_dump({"name": "", "inode": 7, "pids": [42],
                          "links": [{"index": 1, "ifi_type": 772, "flags": 0, "attrs": {}}]})
    assert ns.label == "netns:7(pid 42)"
    assert ns.links[0].kind == "loopback" and ns.links[0].state == "down"


EVIL = "brt-\x1b[31mred\x1b[0m\nfake line\u202e\\"


def test_hostile_names_render_inert() -> None:
    ln = Link(ifindex=2, name=EVIL, kind="veth", peer=PeerRef(99, 3),
              addresses=(Address("10.0.0.1", 24),))
    topo = Topology(namespaces=(Netns(name=EVIL, inode=5, links=(ln,)),))
    text = render(topo)
    assert "\x1b" not in text and "\u202e" not in text
    assert len(text.splitlines()) == 3  # header, device, its peer line: no injected lines
    assert "\\x1b[31mred" in text and "\\u202e" in text
    assert from_json(to_json(topo)) == topo
    assert "\x1b" not in to_json(topo)


@given(st.text())
def test_inert_is_printable_single_line(text: str) -> None:
    out = inert(text)
    assert out.isprintable() and "\n" not in out


@given(st.text(min_size=1, max_size=15), st.integers(1, 2**31 - 1), st.integers(68, 65535))
def test_link_round_trips_through_json(name: str, ifindex: int, mtu: int) -> None:
    topo = Topology(namespaces=(Netns(name=name, inode=1, links=(
        Link(ifindex=ifindex, name=name, kind="bridge", mtu=mtu),)),))
    assert from_json(to_json(topo)) == topo


def test_lab_specs_are_consistent() -> None:
    hosts = [h for lab in LABS.values() for h in lab.hosts]
    assert len(hosts) == len(set(hosts)), "host names must be unique across labs"
    assert LABS["flannel"].addresses["pod-b"] == "10.244.1.3"
    assert netns_path("pod-a") == "/run/netns/brt-pod-a"
    for lab in LABS.values():
        assert set(lab.devices) == set(lab.hosts) == set(lab.addresses)
