"""The headers that changed at each hop, field by field, old → new: step playback's margin notes.

``svg_headers.header_changes`` already finds the hops where a packet's
headers change (encapsulation, decapsulation, NAT, routing); a learner
stepping hop by hop wants the *fields* that changed there, not two header
blocks to compare by eye. This turns each change into short lines. Pure:
it reads the decoded fields of the events, never the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.model import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, L4Key
from tracer.render.svg_headers import NO_HEADERS, HeaderView, header_changes

ADDED, REMOVED = "+", "−"


def _pair(s: str) -> tuple[str, str]:
    """``"a → b"`` as (a, b); views keep source and destination in one string."""
    a, _, b = s.partition(" → ")
    return a, b


def _moved(label: str, old: str, new: str) -> list[str]:
    """``label src a → b`` / ``label dst a → b`` for the ends of a "src → dst" pair that differ."""
    if not old or not new or old == new:
        return []
    out = []
    for end, a, b in zip(("src", "dst"), _pair(old), _pair(new), strict=True):
        if a != b:
            out.append(f"{label} {end} {a} → {b}")
    return out


def field_changes(before: HeaderView, after: HeaderView) -> list[str]:
    """What differs between two hops' headers: outer headers added or removed, then the packet's own."""
    out = [f"{ADDED} {line}" for line in after.outer if line not in before.outer]
    out += [f"{REMOVED} {line}" for line in before.outer if line not in after.outer]
    out += _moved("ip", before.ip, after.ip)
    if after.ttl != before.ttl and not (before.arp or after.arp):
        out.append(f"ttl {before.ttl} → {after.ttl}")
    out += _moved("eth", before.eth, after.eth)
    return out


@dataclass(frozen=True, slots=True)
class HopDiff:
    """The headers that changed at one hop: why (``routed``, ``NAT + routed``…) and each field."""

    why: str
    fields: tuple[str, ...]

    def lines(self) -> list[str]:
        """``routed: ttl 64 → 63`` then the other fields aligned under the first."""
        pad = " " * (len(self.why) + 2)
        return [f"{self.why}: {f}" if i == 0 else pad + f for i, f in enumerate(self.fields)]


def _l4(h: Hop) -> L4Key | None:
    """The transport key the hop's headers carry (the event ``hop_headers`` reads)."""
    ev = next((e for e in h.events if e.hook not in NO_HEADERS and e.key.present), None)
    return ev.key if ev is not None else None


def port_changes(before: L4Key, after: L4Key) -> list[str]:
    """NAT's port (or ICMP echo id) rewrite: ``udp sport 40000 → 1024``, ``icmp id 0x1 → 0x2``."""
    if before.proto != after.proto:
        return []
    if after.proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        return [f"icmp id {before.sport:#06x} → {after.sport:#06x}"] if before.sport != after.sport else []
    if after.proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return []
    name = "tcp" if after.proto == IPPROTO_TCP else "udp"
    return [f"{name} {end} {a} → {b}" for end, a, b in
            (("sport", before.sport, after.sport), ("dport", before.dport, after.dport)) if a != b]


def hop_diffs(hops: Sequence[Hop]) -> dict[int, HopDiff]:
    """For one direction's hops (request or reply): hop index → the header changes at it."""
    changes = {c.hop.index: c for c in header_changes(hops)}
    out: dict[int, HopDiff] = {}
    last: L4Key | None = None
    for h in hops:
        key = _l4(h)
        c = changes.get(h.index)
        if c is not None:
            ports = port_changes(last, key) if last is not None and key is not None else []
            out[h.index] = HopDiff(c.title, tuple(field_changes(c.before, c.after) + ports))
        last = key if key is not None else last
    return out
