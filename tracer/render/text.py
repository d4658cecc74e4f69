"""Plain-text and JSON output of probe journeys, as ``brtrace ping --plain/--json`` prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status
from tracer.diagnose import Diagnosis, diagnose
from tracer.headers import IP_PROTOS
from tracer.jsonout import dumps, packet_record
from tracer.model import ICMP_ECHOREPLY, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, L4Key
from tracer.ndp import ndp_name
from tracer.netfilter.annotate import name_nat
from tracer.netfilter.rules import Counters
from tracer.render.inert import inert
from tracer.topology.model import Topology


def fmt_ns(ns: int) -> str:
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f}µs"
    return f"{ns / 1_000_000:.2f}ms"


def fmt_dt(h: Hop, dt: int) -> str:
    """A hop's Δt (``dt`` after the hop before it); "-" where its time is not its
    own (Hop.stamped: an input route lookup, which belongs to its packet's hook)."""
    return "-" if h.stamped(dt) else fmt_ns(dt)


def hop_table(hops: Sequence[Hop], t0: int | None = None, prev: int | None = None) -> list[str]:
    """The hops as a table; ``t`` counts from ``t0`` (default: the first hop) and the first
    ``Δt`` from ``prev`` (default: ``t0``), so a reply's table goes on from its request's."""
    if not hops:
        return ["    (no hop seen)"]
    t0 = hops[0].t_ns if t0 is None else t0
    w_ns = max(5, *(len(inert(h.netns)) for h in hops))
    w_dev = max(6, *(len(inert(h.dev)) for h in hops))
    nodes = len({h.node for h in hops}) > 1  # across nodes: which node each hop is on
    w_node = max(4, *(len(inert(h.node)) for h in hops)) if nodes else 0
    head = f"{'node':<{w_node}}  " if nodes else ""
    lines = [f"    {'#':>2}  {head}{'netns':<{w_ns}}  {'device':<{w_dev}}  {'Δt':>8}  {'t':>8}  action"]
    prev = t0 if prev is None else prev
    for h in hops:
        mark = "~" if h.inferred else " "
        node = f"{inert(h.node):<{w_node}}  " if nodes else ""
        lines.append(f"   {mark}{h.index:>2}  {node}{inert(h.netns):<{w_ns}}  {inert(h.dev):<{w_dev}}  "
                     f"{fmt_dt(h, h.t_ns - prev):>8}  {fmt_ns(h.t_ns - t0):>8}  {inert(h.action)}")
        prev = h.t_ns
    return lines


def diagnosis_text(d: Diagnosis) -> list[str]:
    """The 'diagnosis:' block: cause, the facts checked, and the fix as a command."""
    out = ["  diagnosis:", f"    cause: {inert(d.cause)}"]
    out += [f"    checked: {inert(e)}" for e in d.evidence]
    if d.fix:
        out.append(f"    fix: {inert(d.fix)}")
    return out


def title(p: Packet, src: str, dest: str) -> str:
    """The packet's heading: an echo probe by seq and id, an ARP frame as who-has / is-at."""
    rtt = f"  rtt {fmt_ns(p.rtt_ns)}" if p.rtt_ns is not None else ""
    err = f"  ({inert(p.error)})" if p.error else ""
    status = f"{p.status.upper()}{rtt}{err}"
    if p.echo:
        return f"probe seq {p.seq}  icmp id {p.ident:#06x}  {src} → {dest}  {status}"
    arp = arp_words(p.hops) if p.what == "arp" else ""
    if arp:
        return f"{arp}  {status}"
    return f"{inert(p.what)}  {src} → {dest}  {status}"


def arp_words(hops: Sequence[Hop]) -> str:
    """'arp who-has B tell A  mac → mac' or 'arp B is-at mac  mac → mac', from the frame's own event."""
    for e in (e for h in hops for e in h.events):
        if e.route is None and e.key.present:
            k = e.key
            if k.sport == 1:
                return inert(f"arp who-has {k.dst} tell {k.src}  {e.src_mac} → {e.dst_mac}")
            if k.sport == 2:
                return inert(f"arp {k.src} is-at {e.src_mac}  {e.src_mac} → {e.dst_mac}")
            return inert(f"arp op {k.sport} {k.src} → {k.dst}")
    return "arp"


def directions(p: Packet, nf: Counters | None = None) -> list[tuple[str, Sequence[Hop], list[str]]]:
    """(name, hops, table) of the request and, if there is one to show, the reply.

    The reply's ``t`` goes on from the request's first hop, as in the TUI: its
    last ``t`` is the RTT (``--plain``, ``--step`` and the TUI agree).
    """
    req = name_nat(p.request, nf, reply=False)
    out: list[tuple[str, Sequence[Hop], list[str]]] = [("request", req, hop_table(req))]
    if p.reply or (p.echo and p.status != Status.DROPPED):
        rep = name_nat(p.reply, nf, reply=True)
        t0, prev = (req[0].t_ns, req[-1].t_ns) if req and p.echo else (None, None)
        out.append(("reply", rep, hop_table(rep, t0, prev)))
    return out


def probe_text(p: Packet, src: str, dest: str, topo: Topology | None = None,
               nf: Counters | None = None) -> list[str]:
    out = [title(p, src, dest)]
    for name, _, table in directions(p, nf):
        out += [f"  {name}:", *table]
    return out + drop_text(p, topo, nf)


def drop_text(p: Packet, topo: Topology | None, nf: Counters | None, *,
              diagnose_all: bool = True) -> list[str]:
    """Where the packet was dropped and why, as ``ping`` and ``trace`` both end a packet.

    ``diagnose_all`` False (``trace``): only a drop is diagnosed; a lone
    journey not seen arriving proves nothing (its reply may be another one).
    """
    out = []
    drop = p.drop
    if drop is not None:
        out.append(f"  dropped at hop {drop.index} in {inert(drop.netns)}: reason {inert(drop.reason)}"
                   f", location {inert(drop.location)}")
    wanted = diagnose_all or p.status == Status.DROPPED
    d = diagnose(p, topo, nf) if topo is not None and wanted else None
    if d is not None:
        out += diagnosis_text(d)
    return out


def _endpoint(addr: str, port: str, topo: Topology | None) -> str:
    name = topo.name_of_address(addr) if topo is not None and addr else None
    at = f"{addr}{port}" if addr else "?"
    return f"{inert(name)} ({at})" if name else at


def named(addr: str, topo: Topology | None) -> str:
    """``pod-b (10.244.1.3)`` as ``ping`` heads a probe; the bare address when the
    topology names no workload for it (either family: the snapshot holds both)."""
    return _endpoint(addr, "", topo)


def _what(k: L4Key) -> str:
    """A packet in words: an echo by id and sequence, an ICMP message by type; ICMPv6's
    as ICMP's (its echo is the probe marker too, its NDP named as ARP is)."""
    kind = "icmpv6" if k.proto == IPPROTO_ICMPV6 else "icmp"
    if k.is_icmp_echo:
        word = "reply" if k.echo_type == ICMP_ECHOREPLY else "request"
        return f"{kind} echo {word} id {k.sport:#06x} seq {k.dport}"
    if k.is_ndp:
        return ndp_name(k) or "ndp"
    if k.proto in (IPPROTO_ICMP, IPPROTO_ICMPV6) and k.icmp_type != 0xFF:
        return f"{kind} type {k.icmp_type} code {k.icmp_code}"
    return IP_PROTOS.get(k.proto, f"ip proto {k.proto}")


def packet_line(n: int, p: Packet, k: L4Key, topo: Topology | None) -> str:
    """``trace``'s first line of a packet, in ping's words: what it is, who to whom, how it ended.

    ``packet 3  tcp  brt-nat-out (198.51.100.1:40102) → 198.51.100.2:8080  ip id 8646  DELIVERED``
    rather than the correlator's key in raw numbers. An IPv6 header has no IP id
    (the key's ip_id is its flow label's low bits), so none is printed for it.
    """
    ports = k.proto in (IPPROTO_TCP, IPPROTO_UDP)
    sp, dp = (f":{k.sport}", f":{k.dport}") if ports else ("", "")
    ip_id = "" if k.v6 else f"  ip id {k.ip_id}"
    return (f"packet {n}  {_what(k)}  {_endpoint(k.src, sp, topo)} → {_endpoint(k.dst, dp, topo)}"
            f"{ip_id}  {p.status.upper()}")


def summary_text(results: Iterable[Packet], lost: int, events: int) -> str:
    """'N probes: …': echo exchanges only; ARP frames and other packets are counted apart."""
    from tracer.explain.lines import summary_line  # the one summary, in every language

    return summary_line(results, lost, events, "en")


def probe_json(p: Packet, topo: Topology | None = None, nf: Counters | None = None) -> str:
    """One probe as a ``packet`` record of the JSON schema; its home is ``tracer.jsonout``."""
    return dumps(packet_record("ping", p.seq or 1, p, topo, nf=nf))
