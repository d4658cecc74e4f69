"""What every diagnosis rule is handed and returns, and the small facts they share.

A rule sees one :class:`Context` (the dying hop, its journey, the namespace
and device in the topology snapshot) and returns a :class:`Diagnosis` or
None; keeping these apart from the rules lets each layer's rules live in
their own module.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.model import Event, Hook
from tracer.netfilter.rules import Counters
from tracer.topology.model import Link, Netns, Topology


@dataclass(frozen=True, slots=True)
class Said:
    """A text by its key in ``tracer/data/explain.<lang>.json`` and what fills it in.

    Why not a string: a diagnosis is shown in the teaching mode's language
    (``--lang zh``), so a rule says *which* text and with which names; the
    words are the data files'. A value may itself be a Said (a clause that
    is there or not, such as "; the frame was being bridged on br0").
    """

    key: str
    values: tuple[tuple[str, str | Said], ...] = ()

    def text(self, lang: str = "en") -> str:
        from tracer.explain.texts import fill  # lazy: tracer.explain imports this package

        return fill(lang, self.key, **{k: v.text(lang) if isinstance(v, Said) else v
                                       for k, v in self.values})


def said(name: str, /, **values: str | Said) -> Said:
    """``Said("diag." + name, values)``: a diagnosis's words by key."""
    return Said("diag." + name, tuple(values.items()))


NOTHING = said("empty")  # a clause left out


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What a person needs: the cause in words, the facts behind it, a command."""

    kind: str  # stable word: ip-forward-off, no-route, netfilter-drop, bridge-port-blocked …
    said: Said  # the cause, in any language: cause_in(lang)
    fix: str = ""  # one shell command; "" when no configuration check explained it
    checks: tuple[Said, ...] = ()  # the facts it used, in any language: evidence_in(lang)
    hop: Hop | None = None  # where the packet died, or the last hop it reached
    # The device whose setting is at fault when it is not where the packet died (the
    # disabled port veth20 for a drop seen on veth10): (netns, dev, netns inode, ifindex).
    culprit: tuple[str, str, int, int] | None = None

    @property
    def cause(self) -> str:
        """In English: what --plain and --json say."""
        return self.said.text("en")

    def cause_in(self, lang: str) -> str:
        return self.said.text(lang)

    @property
    def evidence(self) -> tuple[str, ...]:
        """In English: what --plain and --json say."""
        return self.evidence_in("en")

    def evidence_in(self, lang: str) -> tuple[str, ...]:
        return tuple(c.text(lang) for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "cause": self.cause, "fix": self.fix,
                                  "evidence": list(self.evidence)}
        if self.culprit is not None:
            out["culprit"] = {"netns": self.culprit[0], "dev": self.culprit[1]}
        if self.hop is not None:
            out["hop"] = {"index": self.hop.index, "netns": self.hop.netns, "dev": self.hop.dev,
                          "verb": self.hop.verb, "reason": self.hop.reason,
                          "location": self.hop.location}
        return out


@dataclass(frozen=True, slots=True)
class Context:
    """The drop and what is known around it, handed to every rule."""

    topo: Topology
    result: Packet
    hop: Hop
    hops: tuple[Hop, ...]  # the journey the hop belongs to
    ns: Netns | None
    link: Link | None
    nf: Counters | None = None  # rule counters read before and after the trace, when live

    @property
    def reason(self) -> str:
        return self.hop.reason

    @property
    def location(self) -> str:
        return self.hop.location

    @property
    def before(self) -> tuple[Hop, ...]:
        return self.hops[:self.hops.index(self.hop)] if self.hop in self.hops else ()

    @property
    def packet(self) -> Event | None:
        """A packet event of the dying journey (not a route lookup or FDB update)."""
        for h in (self.hop, *reversed(self.before)):
            for e in h.events:
                if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE) and e.key.present:
                    return e
        return None


Rule = Callable[[Context], "Diagnosis | None"]


def netns_of(topo: Topology, hop: Hop) -> Netns | None:
    ns = topo.netns_by_inode(hop.netns_inode) if hop.netns_inode else None
    return ns or topo.find_netns(hop.netns)


def in_netns(ns: Netns | None, cmd: str) -> str:
    """A command run inside ``ns``: ``ip netns exec NAME`` for named namespaces."""
    if ns is None or ns.is_init:
        return cmd
    if ns.name:
        return f"ip netns exec {ns.name} {cmd}"
    if ns.pids:
        return f"nsenter -t {ns.pids[0]} -n {cmd}"
    return cmd


def dst_of(ctx: Context) -> str:
    ev = ctx.packet
    return ev.key.dst if ev else ""


def src_of(ctx: Context) -> str:
    ev = ctx.packet
    return ev.key.src if ev else ""


def ip_length(ev: Event) -> int:
    """The IP total length from the captured headers (0 when not captured)."""
    off = 0 if ev.headers_l3 else 14
    h = ev.headers
    if len(h) < off + 4 or h[off] >> 4 != 4:
        return 0
    return int.from_bytes(h[off + 2:off + 4], "big")


def subnet_of(ns: Netns | None, addr: str) -> str:
    """The subnet ``addr`` sits in on its owner's device, else the host route.

    Either family: an IPv6 pod's /64, not its address inside a /32 (which
    ``ip_network(strict=False)`` would widen to the wrong prefix).
    """
    for ln in ns.links if ns is not None else ():
        for a in ln.addresses:
            if a.address == addr:
                return str(ipaddress.ip_network(a.cidr, strict=False))
    return f"{addr}/{128 if ':' in addr else 32}"


def unexplained(ctx: Context) -> Diagnosis:
    return Diagnosis("unknown", said("unknown", netns=ctx.hop.netns, dev=ctx.hop.dev or "?",
                                     reason=ctx.reason or "?", location=ctx.location or "?"), "",
                     (said("chk.kfree", reason=ctx.reason, location=ctx.location),), ctx.hop)


def device(ns: Netns, ln: Link) -> tuple[str, str, int, int]:
    """A diagnosis's culprit: the device named and placed on the map."""
    return (ns.label, ln.name, ns.inode, ln.ifindex)
