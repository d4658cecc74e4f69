"""Where a packet's headers change along its path, with the headers before and after.

A picture of one packet is most useful where the packet itself changes:
VXLAN wraps it in an outer header and unwraps it, NAT rewrites addresses,
and every routing step lowers the TTL and puts new MAC addresses on the
frame. The probe already decodes the fields that matter into each
:class:`~tracer.model.Event`, so the comparison works on those fields, not
on the captured bytes (no scapy: the export stays import-light and works on
recordings made with a snaplen too small for full headers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.model import ETH_P_ARP, Event, Hook

NO_HEADERS = {Hook.FIB_TABLE_LOOKUP, Hook.KFREE_SKB, Hook.BR_FDB_UPDATE}

ENCAP, DECAP, NAT, ROUTED = "encapsulated", "decapsulated", "NAT", "routed"


@dataclass(frozen=True, slots=True)
class HeaderView:
    """The headers of one hop as a person compares them: packet, and the tunnel around it."""

    eth: str  # "src → dst" of the packet's own frame ("" when captured from the IP header)
    ip: str  # "src → dst"
    ttl: int
    outer: tuple[str, ...]  # () unless encapsulated: the outer IP/UDP/VXLAN and outer eth
    arp: bool = False  # an ARP frame: ``ip`` holds sender → target, there is no TTL

    def lines(self) -> list[str]:
        l3 = f"ARP {self.ip}" if self.arp else f"IP {self.ip} ttl {self.ttl}"
        return [*self.outer, *([f"eth {self.eth}"] if self.eth else []), l3]


@dataclass(frozen=True, slots=True)
class HeaderChange:
    """At ``hop`` the headers became ``after`` (they were ``before``); ``why`` names the cause."""

    hop: Hop
    why: tuple[str, ...]
    before: HeaderView
    after: HeaderView

    @property
    def title(self) -> str:
        return " + ".join(self.why)


def header_view(e: Event) -> HeaderView:
    """The headers of ``e``: for an encapsulated packet, the inner packet plus the outer wrap."""
    if e.inner is not None:
        eth = f"{e.inner_src_mac} → {e.inner_dst_mac}" if e.inner_src_mac else ""
        outer = (f"outer IP {e.outer.src} → {e.outer.dst} UDP :{e.outer.dport} VNI {e.vni}",
                 *((f"outer eth {e.src_mac} → {e.dst_mac}",) if e.src_mac and not e.headers_l3 else ()))
        return HeaderView(eth, f"{e.inner.src} → {e.inner.dst}", e.inner.ttl, outer)
    eth = f"{e.src_mac} → {e.dst_mac}" if e.src_mac and not e.headers_l3 else ""
    return HeaderView(eth, f"{e.outer.src} → {e.outer.dst}", e.outer.ttl, (), e.ethertype == ETH_P_ARP)


def hop_headers(h: Hop) -> HeaderView | None:
    """The headers seen at ``h``; None for a hop that carries none (a route lookup, a drop)."""
    ev = next((e for e in h.events if e.hook not in NO_HEADERS and e.key.present), None)
    return header_view(ev) if ev is not None else None


def _why(a: HeaderView, b: HeaderView) -> tuple[str, ...]:
    out: list[str] = []
    if b.outer and not a.outer:
        out.append(ENCAP)
    elif a.outer and not b.outer:
        out.append(DECAP)
    if a.ip != b.ip:
        out.append(NAT)
    moved = b.ttl < a.ttl or (a.eth and b.eth and a.eth != b.eth)
    if moved and ENCAP not in out and DECAP not in out:
        out.append(ROUTED)
    return tuple(out)


def header_changes(hops: Sequence[Hop]) -> list[HeaderChange]:
    """Every hop whose headers differ from the previous hop that had headers."""
    out: list[HeaderChange] = []
    last: HeaderView | None = None
    for h in hops:
        cur = hop_headers(h)
        if cur is None:
            continue
        if last is not None and cur != last:
            why = _why(last, cur)
            if why:
                out.append(HeaderChange(h, why, last, cur))
        last = cur
    return out
