"""Captured header bytes as structured layers, for JSON: Ethernet, VLAN, ARP, IPv4, IPv6, ICMP,
ICMPv6 (neighbour discovery included), UDP, TCP, VXLAN.

The TUI decodes with scapy for people (``tui/decode.py``); JSON consumers
want fields, and the core may not pull scapy in for them, so this is a small
bounds-checked parser of exactly the layers brtrace's paths carry. VXLAN is
recognised on IANA's 4789 and flannel's 8472 and its inner frame decoded in
turn. Bytes past the capture are never guessed: a layer cut short says
``"truncated": true`` and decoding stops there.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from tracer.model import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP

IANA_VXLAN_PORT: Final = 4789  # the only one Wireshark decodes as VXLAN by default
FLANNEL_VXLAN_PORT: Final = 8472  # flannel's (and the Linux default's) VXLAN port
VXLAN_PORTS: Final = (IANA_VXLAN_PORT, FLANNEL_VXLAN_PORT)
IP_PROTOS: Final = {IPPROTO_ICMP: "icmp", IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_ICMPV6: "icmpv6"}
ICMPV6_TYPES: Final = {1: "dest-unreach", 2: "packet-too-big", 3: "time-exceeded", 128: "echo-request",
                       129: "echo-reply", 133: "router-solicitation", 134: "router-advertisement",
                       135: "neighbor-solicitation", 136: "neighbor-advertisement"}
IP6_EXT: Final = (0, 43, 60)  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
IP6_FRAGMENT: Final = 44
IP6_EXT_MAX: Final = 4  # as the probes (brtrace.c parse_ip6)
ICMP_TYPES: Final = {0: "echo-reply", 3: "dest-unreach", 8: "echo-request", 11: "time-exceeded"}
TCP_FLAGS: Final = "FSRPAUEC"
MAX_DEPTH: Final = 3  # VXLAN in VXLAN in VXLAN is enough; a crafted capture cannot recurse forever

Layer = dict[str, object]


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _u16(b: bytes, off: int) -> int:
    return int.from_bytes(b[off:off + 2], "big")


def decode(data: bytes, l3: bool = False) -> list[Layer]:
    """The layers of one capture, outermost first; ``l3`` when it starts at the IP header."""
    out: list[Layer] = []
    if l3:
        (_ipv6 if data[:1] and data[0] >> 4 == 6 else _ipv4)(data, out, 0)
    else:
        _ethernet(data, out, 0)
    return out


def _add(out: list[Layer], depth: int, layer: Layer) -> Layer:
    """Append a layer; inside a tunnel it says how deep (1: inside one VXLAN)."""
    if depth:
        layer["encapsulated"] = depth
    out.append(layer)
    return layer


def _cut(out: list[Layer], name: str, depth: int) -> None:
    _add(out, depth, {"layer": name, "truncated": True})


def _ethernet(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 14:
        _cut(out, "ethernet", depth)
        return
    etype, off = _u16(b, 12), 14
    layer = _add(out, depth, {"layer": "ethernet", "src": _mac(b[6:12]), "dst": _mac(b[0:6])})
    while etype in (0x8100, 0x88A8) and len(b) >= off + 4:
        _add(out, depth, {"layer": "vlan", "id": _u16(b, off) & 0x0FFF})
        etype, off = _u16(b, off + 2), off + 4
    layer["ethertype"] = etype
    if etype == 0x0800:
        _ipv4(b[off:], out, depth)
    elif etype == 0x86DD:
        _ipv6(b[off:], out, depth)
    elif etype == 0x0806:
        _arp(b[off:], out, depth)


def _arp(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 28:
        _cut(out, "arp", depth)
        return
    op = _u16(b, 6)
    _add(out, depth, {"layer": "arp", "op": {1: "request", 2: "reply"}.get(op, str(op)),
                "sender_mac": _mac(b[8:14]), "sender_ip": _ip(b[14:18]),
                "target_mac": _mac(b[18:24]), "target_ip": _ip(b[24:28])})


def _ipv4(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 20 or b[0] >> 4 != 4:
        _cut(out, "ipv4", depth)
        return
    ihl = (b[0] & 0x0F) * 4
    frag = _u16(b, 6)
    proto = b[9]
    _add(out, depth, {"layer": "ipv4", "src": _ip(b[12:16]), "dst": _ip(b[16:20]), "ttl": b[8],
                "id": _u16(b, 4), "proto": IP_PROTOS.get(proto, str(proto)), "length": _u16(b, 2),
                "df": bool(frag & 0x4000), "mf": bool(frag & 0x2000),
                "fragment_offset": (frag & 0x1FFF) * 8})
    if frag & 0x1FFF:
        return  # a later fragment: no transport header in it
    rest = b[ihl:]
    if proto == 1:
        _icmp(rest, out, depth)
    elif proto == 17:
        _udp(rest, out, depth)
    elif proto == 6:
        _tcp(rest, out, depth)


def _ipv6(b: bytes, out: list[Layer], depth: int) -> None:
    """The fixed header, then extension headers skipped as the probes skip them."""
    if len(b) < 40 or b[0] >> 4 != 6:
        _cut(out, "ipv6", depth)
        return
    nh, off, frag = b[6], 40, 0
    for _ in range(IP6_EXT_MAX):
        if nh not in (*IP6_EXT, IP6_FRAGMENT) or len(b) < off + 8:
            break
        if nh == IP6_FRAGMENT:
            frag = _u16(b, off + 2) & 0xFFF8
        nh, off = b[off], off + (8 if nh == IP6_FRAGMENT else (b[off + 1] + 1) * 8)
    _add(out, depth, {"layer": "ipv6", "src": str(ipaddress.IPv6Address(b[8:24])),
                      "dst": str(ipaddress.IPv6Address(b[24:40])), "hop_limit": b[7],
                      "flow_label": int.from_bytes(b[1:4], "big") & 0xFFFFF, "length": _u16(b, 4),
                      "proto": IP_PROTOS.get(nh, str(nh)), "fragment_offset": frag})
    rest = b[off:]
    if frag:
        return
    if nh == IPPROTO_ICMPV6:
        _icmpv6(rest, out, depth)
    elif nh == IPPROTO_UDP:
        _udp(rest, out, depth)
    elif nh == IPPROTO_TCP:
        _tcp(rest, out, depth)


def _icmpv6(b: bytes, out: list[Layer], depth: int) -> None:
    """ICMPv6; neighbour solicitation/advertisement name their target (IPv6's ARP)."""
    if len(b) < 8:
        _cut(out, "icmpv6", depth)
        return
    layer = _add(out, depth, {"layer": "icmpv6", "type": b[0], "code": b[1],
                              "name": ICMPV6_TYPES.get(b[0], f"type {b[0]}")})
    if b[0] in (128, 129):
        layer["id"], layer["seq"] = _u16(b, 4), _u16(b, 6)
    elif b[0] in (135, 136) and len(b) >= 24:
        layer["target"] = str(ipaddress.IPv6Address(b[8:24]))


def _icmp(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 8:
        _cut(out, "icmp", depth)
        return
    layer = _add(out, depth, {"layer": "icmp", "type": b[0], "code": b[1],
                              "name": ICMP_TYPES.get(b[0], f"type {b[0]}")})
    if b[0] in (0, 8):
        layer["id"], layer["seq"] = _u16(b, 4), _u16(b, 6)


def _udp(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 8:
        _cut(out, "udp", depth)
        return
    sport, dport = _u16(b, 0), _u16(b, 2)
    _add(out, depth, {"layer": "udp", "sport": sport, "dport": dport, "length": _u16(b, 4)})
    if dport in VXLAN_PORTS and depth < MAX_DEPTH:
        _vxlan(b[8:], out, depth)


def _vxlan(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 8:
        _cut(out, "vxlan", depth)
        return
    _add(out, depth, {"layer": "vxlan", "vni": int.from_bytes(b[4:7], "big"), "flags": b[0]})
    _ethernet(b[8:], out, depth + 1)


def _tcp(b: bytes, out: list[Layer], depth: int) -> None:
    if len(b) < 14:
        _cut(out, "tcp", depth)
        return
    flags = "".join(f for i, f in enumerate(TCP_FLAGS) if b[13] & (1 << i))
    _add(out, depth, {"layer": "tcp", "sport": _u16(b, 0), "dport": _u16(b, 2),
                "seq": int.from_bytes(b[4:8], "big"), "flags": flags})
