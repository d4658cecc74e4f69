"""--host/--proto/--port are shorthands of one pcap expression (issue 23, item 2).

The mapping is held to what the shorthands have always meant (an IPv4 packet
from or to HOST, of PROTO, with PORT as its TCP/UDP source or destination port,
outer or inside VXLAN), judged by libpcap itself on real frames built with scapy.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet

from probes.pcap import compile_both, offline_filter
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter, shorthand_expr
from tracer.model import Event, Hook
from tracer.pcapf.offline import ExprFilter

H = "10.244.1.3"


@pytest.mark.parametrize(("host", "proto", "port", "want"), [
    (H, None, None, f"host {H}"),
    (None, "icmp", None, "ip proto 1"),
    (None, "tcp", 80, "ip proto 6 and tcp port 80"),
    (None, None, 53, "ip and (tcp port 53 or udp port 53)"),
    (H, "udp", 8472, f"host {H} and ip proto 17 and udp port 8472"),
    (None, None, None, None),
])
def test_the_one_mapping(host: str | None, proto: str | None, port: int | None, want: str | None) -> None:
    assert shorthand_expr(host, proto, port) == want
    flt = TraceFilter(host=host, proto=proto, port=port)
    assert flt.shorthand == want and flt.expression == want
    if want:
        compile_both(want)  # libpcap compiles it and brtrace's translator takes it


def test_with_an_expression_both_are_one_expression_that_looks_inside() -> None:
    f = TraceFilter(host=H, expr="tcp port 80")
    assert f.expression == f"(host {H}) and (tcp port 80)"
    assert f.looks_inside and not f.fast_path and f.kernel_expr == f.expression
    assert not any(c.startswith("-DFILTER_HOST") for c in f.cflags())  # one meaning, in the expression
    assert not TraceFilter(expr="tcp").looks_inside  # an expression alone: outer only, unless --inner
    with pytest.raises(BrtraceError, match="--inner needs"):
        TraceFilter(inner=True)
    TraceFilter(host=H, inner=True)  # a shorthand is an expression


def test_a_port_with_icmp_is_one_line() -> None:
    with pytest.raises(BrtraceError, match="TCP or UDP port"):
        TraceFilter(proto="icmp", port=7)


@pytest.mark.parametrize(("f", "fast"), [
    (TraceFilter(host=H, proto="icmp"), True),
    (TraceFilter(proto="udp", port=5299), True),
    (TraceFilter(port=5299), False),  # the fixed port test reads ICMP's id and sequence too
    (TraceFilter(icmp_id=7), True),
])
def test_fast_path_only_where_the_fixed_filter_is_the_same(f: TraceFilter, fast: bool) -> None:
    assert f.fast_path is fast
    assert (f.kernel_expr is None) is fast
    assert any(c.startswith("-DFILTER_") for c in f.cflags()) is (fast and f != TraceFilter())


def _frames() -> list[Packet]:
    icmp = Ether() / IP(src="10.244.0.2", dst=H) / ICMP(id=53, seq=80)
    return [
        icmp,
        Ether() / IP(src=H, dst="10.244.0.2") / TCP(sport=80, dport=40000),
        Ether() / IP(src="10.244.0.2", dst="10.244.0.9") / UDP(sport=5000, dport=53),
        Ether() / IP(src=H, dst="10.244.0.9") / UDP(sport=5000, dport=9),
        Ether() / IP(src="10.244.0.2", dst="10.244.0.9") / TCP(sport=5000, dport=53),
        Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.244.0.2", pdst=H),
        Ether() / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=80, dport=53),
        Ether() / IP(src="192.168.50.11", dst="192.168.50.12") / UDP(sport=40000, dport=8472)
        / VXLAN(vni=1) / icmp,
    ]


def _meaning(pkt: Packet, host: str | None, proto: str | None, port: int | None) -> bool:
    """What the shorthands have always meant, on one header (outer or inner)."""
    if host:
        addrs = ({pkt[IP].src, pkt[IP].dst} if IP in pkt else
                 {pkt[ARP].psrc, pkt[ARP].pdst} if ARP in pkt else set())
        if host not in addrs:
            return False
    if proto and (IP not in pkt or pkt[IP].proto != {"icmp": 1, "tcp": 6, "udp": 17}[proto]):
        return False
    if port is not None:
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else None
        if IP not in pkt or l4 is None or port not in (l4.sport, l4.dport):
            return False
    return True


def _layers(pkt: Packet) -> list[Packet]:
    """The frame, and the one inside VXLAN when there is one."""
    return [pkt, pkt[VXLAN].payload] if VXLAN in pkt else [pkt]


@pytest.mark.parametrize(("host", "proto", "port"), [
    (H, None, None), (None, "icmp", None), (None, "tcp", 80), (None, None, 53), (H, "icmp", None),
    (H, "udp", None), (H, "tcp", 80), (None, "udp", 8472),
])
def test_libpcap_on_the_mapping_is_what_the_shorthands_meant(host: str | None, proto: str | None,
                                                              port: int | None) -> None:
    flt = TraceFilter(host=host, proto=proto, port=port)
    assert flt.expression is not None
    judge = ExprFilter(flt.expression, offline_filter(flt.expression), inner=flt.looks_inside)
    verdicts = []
    for pkt in _frames():
        # the outer header by itself: the inner one is judged on its own layer
        outer = pkt.copy()
        if VXLAN in outer:
            outer[UDP].remove_payload()
        want = any(_meaning(layer, host, proto, port) for layer in [outer, *_layers(pkt)[1:]])
        got = judge.event(Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "eth0", len(pkt), headers=bytes(pkt)))
        assert got == want, (flt.expression, pkt.summary())
        verdicts.append(got)
    assert any(verdicts) and not all(verdicts)


def test_an_ipv6_host_is_its_expression_never_the_fixed_filter() -> None:
    """The fixed filter holds an IPv4 address only: an IPv6 --host runs as the
    expression, with IPv6's protocol words, and never asks for NAT following."""
    h6 = "fd00:10:244:1::3"
    assert shorthand_expr(h6, "icmp", None) == f"host {h6} and icmp6"
    assert shorthand_expr(h6, "tcp", 80) == f"host {h6} and ip6 proto 6 and tcp port 80"
    f = TraceFilter(host=h6, proto="icmp", nat_follow=True)
    assert not f.fast_path and f.kernel_expr == f"host {h6} and icmp6" and f.looks_inside
    assert not any(c.startswith(("-DFILTER_HOST", "-DNAT_FOLLOW")) for c in f.cflags())
    compile_both(f.kernel_expr)
    with pytest.raises(BrtraceError, match="not an IPv4 or IPv6 address"):
        TraceFilter(host="fd00::zz")


@pytest.mark.parametrize(("f", "follows"), [
    (TraceFilter(host="198.51.100.2", proto="tcp", nat_follow=True), True),  # the fixed filter
    (TraceFilter(expr="tcp and host 198.51.100.2", nat_follow=True), True),  # an expression
    (TraceFilter(host="198.51.100.2", expr="port 8080", nat_follow=True), True),  # both, as one expression
    (TraceFilter(port=53, proto="udp", nat_follow=True), True),
    (TraceFilter(expr="tcp and host 198.51.100.2"), False),  # no NAT rule anywhere: nothing to follow
    (TraceFilter(icmp_id=7, nat_follow=True), False),  # ping's echo id alone: not an address or port
    (TraceFilter(proto="tcp", nat_follow=True), False),
    (TraceFilter(host="fd00:10:244:1::3", nat_follow=True), False),  # NAT66 is not followed
])
def test_nat_following_for_every_filter_naming_addresses_or_ports(f: TraceFilter, follows: bool) -> None:
    """Issue 17: an expression loses the packet at DNAT as ``--host`` does, so it asks the
    kernel to follow it too (brtrace.c's BRT_NAT_FOLLOW is compiled in for either)."""
    assert f.follows_nat is follows
    assert ("-DNAT_FOLLOW=1" in f.cflags()) is follows
