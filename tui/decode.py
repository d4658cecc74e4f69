"""Decode a hop's captured header bytes with scapy into lines a person reads.

Only the layers brtrace's paths carry get a hand-written line (Ethernet, ARP,
IPv4, ICMP, UDP, TCP, VXLAN and what is inside it); anything else is named by
scapy. VXLAN is recognised on both the IANA port and flannel's 8472 without
touching scapy's global bindings. Every value becomes a plain ``Text`` so
packet bytes can never act as markup or terminal escapes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.text import Text

from tracer.headers import ICMP_TYPES, VXLAN_PORTS
from tracer.render.inert import inert


@lru_cache(maxsize=4096)
def _decoded(data: bytes, l3: bool) -> tuple[Text, ...]:
    """scapy costs ~15 ms a packet; the same bytes at many hops decode once."""
    return tuple(_decode(data, l3))


def decode_headers(data: bytes, l3: bool) -> list[Text]:
    """Lines describing ``data`` layer by layer; an empty capture says so."""
    return [t.copy() for t in _decoded(data, l3)]


def _decode(data: bytes, l3: bool) -> list[Text]:
    if not data:
        return [Text("(no header bytes captured at this hook)", style="dim")]
    from scapy.layers.inet import IP  # lazy: scapy takes ~0.5 s to import
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    try:
        pkt = (IPv6(data) if data[0] >> 4 == 6 else IP(data)) if l3 else Ether(data)
    except Exception as exc:  # noqa: BLE001 - malformed capture: say so, never crash the view
        return [Text(inert(f"undecodable headers ({type(exc).__name__})"), style="red")]
    return _layers(pkt, depth=0)


def _layers(pkt: Any, depth: int) -> list[Text]:
    from scapy.layers.vxlan import VXLAN

    out: list[Text] = []
    layer = pkt
    while layer is not None and layer.name not in ("NoPayload", "Raw", "Padding"):
        out.append(_line(layer, depth))
        if layer.name == "UDP" and layer.dport in VXLAN_PORTS and not isinstance(layer.payload, VXLAN):
            vx = VXLAN(bytes(layer.payload))
            out.extend(_layers(vx, depth + 1))
            return out
        if layer.name == "VXLAN":
            depth += 1
        layer = layer.payload if layer.payload is not None and len(layer.payload) else None
    return out


def _line(layer: Any, depth: int) -> Text:
    name = layer.name
    text = Text("  " * depth)
    text.append(f"{_label(name):<9}", style="bold cyan")
    text.append(inert(_fields(layer)))
    return text


def _label(name: str) -> str:
    if name.startswith("ICMPv6"):
        return "NDP" if "Neighbor Discovery" in name else "ICMPv6"
    return {"Ethernet": "Ethernet", "IP": "IPv4", "ICMP": "ICMP", "UDP": "UDP", "TCP": "TCP",
            "VXLAN": "VXLAN", "ARP": "ARP"}.get(name, name[:9])


def _fields(layer: Any) -> str:
    """The fields of one layer that matter on a path, compactly."""
    n = layer.name
    if n == "Ethernet":
        return f"{layer.src} → {layer.dst}  type {layer.type:#06x}"
    if n == "IP":
        return (f"{layer.src} → {layer.dst}  ttl {layer.ttl}  id {layer.id}  proto {layer.proto}  "
                f"len {layer.len}"
                + (f"  flags {layer.flags}" if int(layer.flags) else ""))
    if n == "ICMP":
        kind = ICMP_TYPES.get(layer.type, f"type {layer.type}")
        extra = f"  id {layer.id:#06x}  seq {layer.seq}" if layer.type in (0, 8) else f"  code {layer.code}"
        return kind + extra
    if n == "IPv6":
        return f"{layer.src} → {layer.dst}  hlim {layer.hlim}  nh {layer.nh}  plen {layer.plen}"
    if n.startswith("ICMPv6 Echo"):
        return f"{n[7:].lower()}  id {layer.id:#06x}  seq {layer.seq}"
    if n.startswith("ICMPv6 Neighbor Discovery - "):  # NDP: IPv6's ARP
        what = "who-has" if "Solicitation" in n else "is-at"
        return f"{what} {layer.tgt}"
    if n == "UDP":
        return f"{layer.sport} → {layer.dport}  len {layer.len}"
    if n == "TCP":
        return f"{layer.sport} → {layer.dport}  flags {layer.flags}  seq {layer.seq}"
    if n == "VXLAN":
        return f"vni {layer.vni}  flags {int(layer.flags):#x}"
    if n == "ARP":
        op = {1: "who-has", 2: "is-at"}.get(layer.op, str(layer.op))
        return f"{op} {layer.pdst} tell {layer.psrc} ({layer.hwsrc})"
    return str(layer.summary())
