"""Neighbour discovery (NDP), IPv6's ARP: which packets are it and what they are called.

IPv6 has no ARP: a host asks "who has fd00::21?" with an ICMPv6 neighbour
solicitation (type 135) sent to the target's solicited-node multicast group,
and the owner answers with a neighbour advertisement (type 136). Bridges
flood the solicitation as they flood an ARP broadcast and learn MACs from
both. The labels and the teaching note say so wherever ARP is said.
"""

from __future__ import annotations

from typing import Final

from tracer.model import NDP_NA, NDP_NS, L4Key

NAMES: Final = {NDP_NS: "ndp neighbor-solicitation", NDP_NA: "ndp neighbor-advertisement"}


def ndp_name(k: L4Key) -> str | None:
    """"ndp neighbor-solicitation" etc. for an NDP key, else None."""
    return NAMES.get(k.icmp_type) if k.is_ndp else None
