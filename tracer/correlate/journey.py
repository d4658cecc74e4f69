"""Journeys and hops: what the correlator produces and every view shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracer.correlate.vocab import Verb
from tracer.model import ETH_P_ARP, ICMP_ECHOREPLY, Event, L4Key
from tracer.schema.event import LOOPBACK_IFINDEX, ROUTE_STAMP_NS

PacketKey = tuple[object, ...]
Indices = list[int] | np.ndarray  # record indices of a batch, shared by the runs filed from it


def packet_key(ev: Event) -> PacketKey | None:
    """What stays the same for one packet along its whole path.

    ICMP echo keeps (type, id, seq) across VXLAN (inner key) and NAT keeps
    at least (type, seq); other IP packets keep their IP id. Addresses are left
    out of the ICMP key because NAT rewrites them.
    """
    k = ev.key
    if not k.present:
        return None
    arp = (ev.inner is not None and k.proto == 0) or (ev.inner is None and ev.ethertype == ETH_P_ARP)
    if arp:
        return ("arp", k.sport, k.saddr, k.daddr)
    echo = k.echo_type  # ICMPv6's echo types as ICMP's: one pairing for both families
    if echo is not None:
        return ("icmp", echo, k.sport, k.dport)
    return ("ip", k.proto, k.saddr, k.daddr, k.sport, k.dport, k.ip_id)


def nat_compatible(a: PacketKey, b: PacketKey) -> bool:
    """Whether two keys can be the same packet before and after NAT.

    NAT rewrites addresses, ports and the ICMP id, but never the IP id or the
    ICMP type and sequence — that is what keeps a reused skb address from
    joining a reply to its request.
    """
    if a[0] != b[0]:
        return False
    if a[0] == "icmp":
        return a[1] == b[1] and a[3] == b[3]
    if a[0] == "ip":
        return a[1] == b[1] and a[6] == b[6]
    return False


def _indices(idx: Indices, start: int, stop: int) -> list[int]:
    part = idx[start:stop]
    return part.tolist() if isinstance(part, np.ndarray) else part


@dataclass(frozen=True, slots=True)
class Hop:
    """One place a packet was seen, with what happened there in words.

    ``kind`` is the device's role (pod-eth0 or container-eth0, veth-host, bridge, vxlan, uplink)
    or the step type (route, drop, fdb); ``verb`` a stable machine word for
    the action; ``inferred`` marks a hop deduced from its neighbours (a bridge
    forwarding between two ports emits no event of its own on tracepoints).
    """

    index: int
    t_ns: int
    netns: str
    dev: str
    kind: str
    verb: Verb
    action: str
    hooks: tuple[str, ...] = ()
    netns_inode: int = 0
    ifindex: int = 0
    events: tuple[Event, ...] = ()
    inferred: bool = False
    reason: str = ""
    location: str = ""
    node: str = ""  # the node it was seen on (tracing across nodes: tracer/multinode)

    def stamped(self, dt: int) -> bool:
        """Whether this hop's time, ``dt`` after the hop before it, is not its own:
        an input route lookup, which the probes stamp ROUTE_STAMP_NS after its
        packet's hook instead of reading the clock (brtrace.c: fib_stamp). A
        recording from before that timed it, never exactly 1 ns after."""
        return dt == ROUTE_STAMP_NS and self.kind == "route" and any(
            e.route is not None and e.route.iif > LOOPBACK_IFINDEX for e in self.events)

    def to_dict(self, t0: int, prev_t: int) -> dict[str, object]:
        return {
            "hop": self.index, "node": self.node, "netns": self.netns, "dev": self.dev, "kind": self.kind,
            "verb": self.verb, "action": self.action, "t_ns": self.t_ns - t0,
            "dt_ns": self.t_ns - prev_t, "hooks": list(self.hooks), "inferred": self.inferred,
            **({"reason": self.reason, "location": self.location} if self.verb == Verb.DROP else {}),
        }


@dataclass(slots=True)
class Journey:
    """All events of one packet (one probe direction), in arrival order.

    ``events`` is a plain list of Events. Inside, the correlator may file
    runs of events still unbuilt, as ``(batch, idx, start, stop)``: the
    events ``idx[start:stop]`` of a lazy :class:`tracer.schema.decode.EventBatch`,
    built when ``events`` is read. ``idx`` (record indices, a list or an
    integer array) is shared by every journey filed from one batch, so a run
    costs one small tuple, not a list of its own.
    """

    jid: int
    key: PacketKey
    _items: list[Any] = field(default_factory=list)
    aliases: tuple[PacketKey, ...] = ()  # other keys of this packet (after NAT): rare
    count: int = 0  # events filed (built or not)
    _lazy: bool = False  # _items holds unbuilt runs
    born_ns: int = 0  # its first event's time: the correlator hands it out once it is old

    @property
    def events(self) -> list[Event]:
        if self._lazy:
            out: list[Event] = []
            for x in self._items:
                if type(x) is tuple:
                    b, idx, start, stop = x
                    out.extend([b[i] for i in _indices(idx, start, stop)])
                else:
                    out.append(x)
            self._items = out
            self._lazy = False
        items: list[Event] = self._items
        return items

    def add(self, ev: Event) -> None:
        self._items.append(ev)
        self.count += 1

    def add_run(self, batch: Any, idx: Indices, start: int, stop: int) -> None:
        """File events ``idx[start:stop]`` of ``batch`` unbuilt (``idx`` is not copied)."""
        self._items.append((batch, idx, start, stop))
        self.count += stop - start
        self._lazy = True

    def last(self) -> Event:
        """The latest event, building only that one."""
        x = self._items[-1]
        if type(x) is tuple:
            ev: Event = x[0][int(x[1][x[3] - 1])]
            return ev
        return x  # type: ignore[no-any-return]

    def last_index(self, batch: Any) -> int | None:
        """The record index of the latest event if it is an unbuilt one of ``batch``."""
        x = self._items[-1]
        if type(x) is tuple and x[0] is batch:
            return int(x[1][x[3] - 1])
        return None

    def tail(self, n: int) -> list[Event]:
        """The latest ``n`` events, building only those."""
        out: list[Event] = []
        for x in reversed(self._items):
            if type(x) is tuple:
                b, idx, start, stop = x
                out[:0] = [b[i] for i in _indices(idx, max(start, stop - (n - len(out))), stop)]
            else:
                out.insert(0, x)
            if len(out) >= n:
                break
        return out

    @property
    def first(self) -> Event:
        return self.events[0]

    @property
    def icmp(self) -> tuple[int, int, int] | None:
        """(type, id, seq) for an ICMP echo journey."""
        if self.key[0] != "icmp":
            return None
        t, i, s = self.key[1], self.key[2], self.key[3]
        assert isinstance(t, int) and isinstance(i, int) and isinstance(s, int)
        return t, i, s

    def packet(self) -> L4Key:
        for e in self.events:
            if e.key.present and e.hook.value != 5:
                return e.key
        return self.first.key

    def is_reply(self) -> bool:
        return self.packet().echo_type == ICMP_ECHOREPLY
