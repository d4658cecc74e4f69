"""The filter box's expressions, below the TUI (issue 23, item 1): which texts are
pcap, where the frame inside VXLAN starts, and an agent that ignored the expression."""

from __future__ import annotations

import queue

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from probes.pcap import offline_filter
from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.model import Event, Hook
from tracer.pcapf.offline import (
    ExprFilter,
    as_on_the_wire,
    inner_frame,
    names_resolved,
    parse_filter,
    vxlan_ports,
)
from tracer.remote.client import AgentClient, StreamItem
from tracer.topology.model import Link, Netns, Topology, VxlanInfo

PORTS = frozenset({8472, 4789})
INNER = Ether(src="02:00:00:00:00:01") / IP(src="10.244.0.2", dst="10.244.1.3") / ICMP()


@pytest.mark.parametrize(("text", "names"), [
    ("icmp and host 10.244.1.3", []), ("udp port 8472", []), ("tcp port http", []), ("portrange 1-1024", []),
    ("net 10.244.0.0/16 or ether host 02:00:00:00:00:01", []), ("ip[8] < 64 and not arp", []),
    ("pod-a", ["pod-a"]), ("host web", ["web"]), ("dropped", ["dropped"]), ("cni0", ["cni0"]),
])
def test_words_that_libpcap_would_look_up_are_found(text: str, names: list[str]) -> None:
    assert names_resolved(text) == names


def test_a_host_name_is_never_compiled_so_never_looked_up() -> None:
    asked: list[str] = []

    def compiler(expr: str):  # type: ignore[no-untyped-def]
        asked.append(expr)
        return offline_filter(expr)

    assert parse_filter("host pod-a", compiler)[0] is None and asked == []
    flt, why = parse_filter("inner  icmp", compiler)
    assert flt is not None and flt.inner and flt.expr == "icmp" and asked == ["icmp"] and not why
    assert parse_filter("tcp port", compiler) == (None, "bad filter expression 'tcp port': "
                                                  "can't parse filter expression: syntax error")
    assert parse_filter("icmp", None) == (None, "")  # no compiler handed in: the old search only


@pytest.mark.parametrize("port", [8472, 4789])
def test_inner_frame_found_as_parse_vxlan_finds_it(port: int) -> None:
    outer = IP(src="192.168.50.11", dst="192.168.50.12") / UDP(sport=40000, dport=port) / VXLAN(vni=1) / INNER
    assert inner_frame(bytes(Ether() / outer), False, PORTS) == bytes(INNER)
    assert inner_frame(bytes(Ether() / Dot1Q(vlan=5) / outer), False, PORTS) == bytes(INNER)
    assert inner_frame(bytes(outer), True, PORTS) == bytes(INNER)
    assert inner_frame(bytes(Ether() / outer), False, frozenset({9})) is None  # not a VXLAN port
    no_flag = IP() / UDP(dport=port) / VXLAN(flags=0) / INNER
    assert inner_frame(bytes(no_flag), True, PORTS) is None


def test_inner_matching_and_the_topology_port() -> None:
    pkt = Ether() / IP(src="192.168.50.11", dst="192.168.50.12") / UDP(dport=4790) / VXLAN(vni=7) / INNER
    e = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "eth0", len(pkt), headers=bytes(pkt))
    vx = Link(5, "vx", "vxlan", vxlan=VxlanInfo(7, port=4790))
    topo = Topology(namespaces=(Netns("brt-n", 1, links=(vx,)),))
    assert vxlan_ports(topo) == PORTS | {4790}
    assert not ExprFilter("icmp", offline_filter("icmp"), inner=True).event(e)  # 4790 unknown
    assert ExprFilter("icmp", offline_filter("icmp"), inner=True, ports=vxlan_ports(topo)).event(e)
    assert not ExprFilter("icmp", offline_filter("icmp"), ports=vxlan_ports(topo)).event(e)  # outer only


def test_length_tests_judge_the_packet_not_the_stored_bytes() -> None:
    """``greater``/``less``/``len`` on a recorded event: the packet's length (its IP
    total length, as the pcap export's original length), not the 128 stored bytes,
    as the kernel program judges it live."""
    big = Ether() / IP(src="10.244.0.2", dst="10.244.1.3") / UDP(dport=9) / (b"x" * 958)  # 1000 bytes
    e = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "eth0", len(big), headers=bytes(big)[:128])
    assert ExprFilter("greater 900", offline_filter("greater 900")).event(e)
    assert not ExprFilter("less 200", offline_filter("less 200")).event(e)
    assert ExprFilter("udp and len = 1000", offline_filter("udp and len = 1000")).event(e)
    rx = Event(0, 0, Hook.NETIF_RECEIVE_SKB, 0, 0, 0, "eth0", len(big) - 14, headers=bytes(big)[:128])
    assert ExprFilter("len = 1000", offline_filter("len = 1000")).event(rx)  # skb->len after the MAC pull
    tagged = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "eth0", len(big), headers=bytes(big)[:128], vlan=5)
    assert ExprFilter("vlan 5 and len = 1004", offline_filter("vlan 5 and len = 1004")).event(tagged)


def test_an_agent_that_ignored_the_expression_ends_its_stream_in_one_line() -> None:
    client = AgentClient("127.0.0.1:9")
    out: queue.Queue[StreamItem] = queue.Queue()
    client._read([pb.TraceBatch(schema_version=0, ready=True, expr="")], out, "icmp")
    item = out.get_nowait()
    assert item.ended and "did not apply the filter expression 'icmp'" in item.ended
    assert out.empty()
    client.close()


def test_an_out_of_band_vlan_tag_is_put_back_as_the_kernel_does() -> None:
    frame = bytes(Ether() / IP(src="10.99.5.1", dst="10.99.5.2") / ICMP())
    offloaded = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "veth", len(frame), vlan=5, headers=frame)
    untagged = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "veth", len(frame), headers=frame)
    vlan5 = ExprFilter("vlan 5 and icmp", offline_filter("vlan 5 and icmp"))
    assert vlan5.event(offloaded) and not vlan5.event(untagged)
    plain = ExprFilter("icmp", offline_filter("icmp"))  # as tcpdump: a tagged frame is not plain "icmp"
    assert plain.event(untagged) and not plain.event(offloaded)
    tagged = bytes(Ether() / Dot1Q(vlan=5) / IP() / ICMP())
    assert as_on_the_wire(tagged, False, 5) == tagged  # the tag is in the frame already
    assert as_on_the_wire(frame, True, 5) == frame  # headers from the IP header on
