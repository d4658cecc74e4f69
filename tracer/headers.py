"""Captured header bytes as structured layers, for JSON: Ethernet, VLAN, ARP, IPv4, ICMP, UDP, TCP, VXLAN.

The TUI decodes with scapy for people (``tui/decode.py``); JSON consumers
want fields, and the core may not pull scapy in for them, so this is a small
bounds-checked parser of exactly the layers brtrace's paths carry. VXLAN is
recognised on IANA's 4789 and flannel's 8472 and its inner frame decoded in
turn. Bytes past the capture are never guessed: a layer cut short says
``"truncated": true`` and decoding stops there.
"""

from __future__ import annotations

from typing import Final

from tracer.model import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP

IANA_VXLAN_PORT: Final = 4789  # the only one Wireshark decodes as VXLAN by default
FLANNEL_VXLAN_PORT: Final = 8472  # flannel's (and the Linux default's) VXLAN port
VXLAN_PORTS: Final = (IANA_VXLAN_PORT, FLANNEL_VXLAN_PORT)
IP_PROTOS: Final = {IPPROTO_ICMP: "icmp", IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp"}
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
        _ipv4(data, out, 0)
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
