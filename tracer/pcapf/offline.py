"""pcap-filter expressions on headers already captured: the TUI's filter box, live and in replay.

Live tracing filters in the kernel (``translate``); a view that has the events
already asks libpcap itself (``pcap_offline_filter``) about each event's
stored header bytes, so an expression means there what it means to tcpdump
on the exported pcap. libpcap is reached through ``probes/pcap.py``; this
module is pure and gets the compiler injected (an :data:`ExprCompiler`), so
``tui`` never imports ``probes``.

Inside VXLAN the frame is found as the kernel program's ``parse_vxlan`` finds
it (probes/brtrace.c): an IPv4 packet (after one optional 802.1Q tag) whose
UDP destination port is a VXLAN port brtrace knows (flannel's 8472, IANA's
4789, any a VXLAN device of the topology uses), with the VXLAN I flag set;
the inner Ethernet frame starts 16 bytes after the UDP header's start and is
matched with the L2 program, as ``--inner`` does in the kernel.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracer.errors import BrtraceError
from tracer.filter import IANA_VXLAN_PORT
from tracer.headers import FLANNEL_VXLAN_PORT
from tracer.model import Event
from tracer.record.pcap import original_length
from tracer.topology.model import Topology

# (header bytes, starts at the IP header, the packet's length on the wire: len/greater/less) -> match
HeaderTest = Callable[[bytes, bool, int], bool]
ExprCompiler = Callable[[str], HeaderTest]  # raises BrtraceError (libpcap's message) if it does not compile
INNER_WORD = "inner"  # a filter box text "inner EXPR" matches inside VXLAN too (as --inner)

ETH_IP, ETH_8021Q = 0x0800, 0x8100
VXLAN_I_FLAG = 0x08

# Words of the pcap-filter language (pcap-filter(7)). A word outside them,
# a number, an address or a local service/protocol name would make libpcap
# resolve it as a host name (a DNS query): the filter box compiles at every
# keystroke, so such a text is taken as the old search syntax instead.
PCAP_WORDS = frozenset("""
    host net port portrange src dst ether ip ip6 arp rarp tcp udp icmp icmp6 igmp igrp pim ah esp
    vrrp sctp carp udplite vlan mpls pppoed pppoes geneve vxlan proto protochain and or not len
    greater less broadcast multicast gateway mask inbound outbound link fddi tr wlan llc stp ipx
    netbeui decnet atalk aarp iso isis clnp esis lat sca moprc mopdl ifname on rnr rulenum reason
    rset srnr subrulenum action type subtype addr1 addr2 addr3 addr4 ra ta byte
    icmptype icmpcode icmp-echoreply icmp-unreach icmp-sourcequench icmp-redirect icmp-echo
    icmp-routeradvert icmp-routersolicit icmp-timxceed icmp-paramprob icmp-tstamp icmp-tstampreply
    icmp-ireq icmp-ireqreply icmp-maskreq icmp-maskreply tcpflags tcp-fin tcp-syn tcp-rst
    tcp-push tcp-ack tcp-urg tcp-ece tcp-cwr
""".split())
_TOKEN = re.compile(r"[A-Za-z0-9_.:/-]+")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9]+(-[0-9]+)?)")  # and a portrange's 1000-2000
_MAC_OR_V6 = re.compile(r"[0-9a-fA-F:.]+(/[0-9]+)?")


def local_name(word: str) -> bool:
    """A service or protocol name (``http``, ``ospf``): libpcap reads those
    from /etc/services and /etc/protocols, not from the network."""
    for lookup in (socket.getservbyname, socket.getprotobyname):
        try:
            lookup(word)
            return True
        except OSError:
            pass
    return False


def names_resolved(expr: str) -> list[str]:
    """The words of ``expr`` libpcap would look up as host names: neither
    pcap words, numbers, addresses, nor local service or protocol names."""
    out = []
    for tok in _TOKEN.findall(expr):
        word = tok.lower()
        if word in PCAP_WORDS or _NUMBER.fullmatch(word) or _address(word):
            continue
        if not local_name(word):
            out.append(tok)
    return out


def _address(word: str) -> bool:
    try:
        ipaddress.ip_network(word, strict=False)
        return True
    except ValueError:
        pass
    if _MAC_OR_V6.fullmatch(word) and ":" in word:
        return True
    return all(part.isdigit() for part in word.split(".")) and word.count(".") <= 3  # "10.244" nets


def vxlan_ports(topo: Topology | None) -> frozenset[int]:
    """The UDP ports looked inside: flannel's, IANA's and every VXLAN device's of ``topo``."""
    ports = {FLANNEL_VXLAN_PORT, IANA_VXLAN_PORT}
    for ns in topo.namespaces if topo is not None else ():
        ports |= {ln.vxlan.port for ln in ns.links if ln.vxlan is not None}
    return frozenset(ports)


def inner_frame(h: bytes, l3: bool, ports: frozenset[int]) -> bytes | None:
    """The Ethernet frame inside VXLAN in ``h``, found as the kernel's parse_vxlan finds it."""
    off = 0
    if not l3:
        if len(h) < 14:
            return None
        etype, off = int.from_bytes(h[12:14], "big"), 14
        if etype == ETH_8021Q:
            if len(h) < 18:
                return None
            etype, off = int.from_bytes(h[16:18], "big"), 18
        if etype != ETH_IP:
            return None
    if len(h) < off + 20 or h[off] >> 4 != 4 or h[off + 9] != 17:
        return None
    if int.from_bytes(h[off + 6:off + 8], "big") & 0x1FFF:  # a later fragment: no UDP header
        return None
    l4 = off + (h[off] & 0x0F) * 4
    if len(h) < l4 + 16 or int.from_bytes(h[l4 + 2:l4 + 4], "big") not in ports:
        return None
    if not h[l4 + 8] & VXLAN_I_FLAG:
        return None
    return h[l4 + 16:]


def as_on_the_wire(h: bytes, l3: bool, vlan: int) -> bytes:
    """The frame with the 802.1Q tag the skb carried out of band put back, as
    the kernel program's vlan_frame does before the expression runs (only
    the VLAN id was recorded: the priority bits read 0)."""
    if l3 or not vlan or len(h) < 14 or int.from_bytes(h[12:14], "big") == ETH_8021Q:
        return h
    return h[:12] + ETH_8021Q.to_bytes(2, "big") + (vlan & 0x0FFF).to_bytes(2, "big") + h[12:]


@dataclass
class ExprFilter:
    """One compiled expression, judging events by their stored headers.

    A packet (a journey, or an echo's two) matches when any of its events
    does, as a packet matches tcpdump on the pcap export when any of its
    crossings does. Verdicts are cached by header bytes: one packet's
    crossings share them, and libpcap is called once per distinct header.
    """

    expr: str
    test: HeaderTest
    inner: bool = False
    ports: frozenset[int] = frozenset({FLANNEL_VXLAN_PORT, IANA_VXLAN_PORT})
    _seen: dict[tuple[bytes, bool, int, int], bool] = field(default_factory=dict, repr=False)

    def event(self, e: Event) -> bool:
        if not e.headers:
            return False
        key = (e.headers, e.headers_l3, e.vlan, e.length)
        hit = self._seen.get(key)
        if hit is None:
            wire = original_length(e)  # not the stored bytes' count: what the pcap export says too
            frame = as_on_the_wire(e.headers, e.headers_l3, e.vlan)
            hit = self.test(frame, e.headers_l3, wire + len(frame) - len(e.headers))
            if not hit and self.inner:
                inner = inner_frame(e.headers, e.headers_l3, self.ports)
                hit = inner is not None and self.test(inner, False, wire - (len(e.headers) - len(inner)))
            if len(self._seen) > 65536:  # a flood's headers are all distinct: keep the cache bounded
                self._seen.clear()
            self._seen[key] = hit
        return hit

    def events(self, events: Iterable[Event]) -> bool:
        return any(self.event(e) for e in events)


def parse_filter(text: str, compile_expr: ExprCompiler | None,
                 topo: Topology | None = None) -> tuple[ExprFilter | None, str]:
    """What a filter box text means: (the expression, "") when it compiles as
    pcap; (None, why not) otherwise, for the old search syntax to take over
    (the caller shows ``why`` only when that matches nothing either).
    ``inner EXPR`` also matches the frame inside VXLAN."""
    body = text.strip()
    inner = body.lower().startswith(INNER_WORD + " ")
    if inner:
        body = body[len(INNER_WORD):].strip()
    if compile_expr is None or not body:
        return None, ""
    resolved = names_resolved(body)
    if resolved:
        return None, f"{resolved[0]!r} is no pcap word (host names are not looked up)"
    try:
        test = compile_expr(body)
    except BrtraceError as exc:  # libpcap's message, or its absence: one line, old syntax next
        return None, str(exc)
    return ExprFilter(body, test, inner, vxlan_ports(topo)), ""
