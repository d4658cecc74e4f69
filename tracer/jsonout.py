"""The one JSON Lines schema of ``ping``, ``trace`` and ``replay --json`` (docs/json-schema.md).

Every line is an object with ``schema_version`` and ``type``: one ``packet``
record per packet (an ICMP probe's request and reply together), then one
``summary`` record with the counts, lost events and, for a damaged
recording, what the damage cost. A consumer reads one schema whichever
command produced the stream; ``docs/brtrace-json.schema.json`` is the
machine-checkable form and the tests validate real outputs against it.

Each hop carries what a reviewer of a bug report asks first — addresses,
protocol, ports or ICMP id/seq, the outer VXLAN header, absolute time and the
decoded headers — so the JSON alone answers what the text views show. Pure:
no bcc, pyroute2 or textual.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tracer.correlate.hops import build_hops
from tracer.correlate.journey import Hop, Journey
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status, Verb
from tracer.diagnose import Diagnosis, diagnose
from tracer.headers import IP_PROTOS, decode
from tracer.model import (
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    Event,
    Hook,
    L4Key,
)
from tracer.netfilter.annotate import name_nat
from tracer.netfilter.rules import Counters
from tracer.render.inert import inert
from tracer.topology.model import Topology

SCHEMA_VERSION: Final = 1
STATUSES: Final = tuple(str(s) for s in (Status.DELIVERED, Status.DROPPED, Status.UNANSWERED,
                                          Status.IN_FLIGHT, Status.PARTIAL))

Obj = dict[str, object]


@dataclass(frozen=True, slots=True)
class WallClock:
    """Kernel timestamps (CLOCK_MONOTONIC, ns since boot) to wall-clock time.

    ``source`` says how exact: ``live`` measured the offset on this machine
    while tracing; ``recording`` anchors the first event at the time the
    recording was created (exact to within the first batch's delay);
    ``none`` when no anchor is known (times are then null).
    """

    offset_ns: int | None
    source: str

    @staticmethod
    def live() -> WallClock:
        return WallClock(time.time_ns() - time.monotonic_ns(), "live")

    @staticmethod
    def recording(created_s: float, first_ts_ns: int | None) -> WallClock:
        if first_ts_ns is None or created_s <= 0:
            return WallClock(None, "none")
        return WallClock(int(created_s * 1e9) - first_ts_ns, "recording")

    def iso(self, ts_ns: int) -> str | None:
        """RFC 3339 UTC with nanoseconds, or None without an anchor."""
        if self.offset_ns is None:
            return None
        wall = ts_ns + self.offset_ns
        base = datetime.fromtimestamp(wall // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{base}.{wall % 1_000_000_000:09d}Z"


NO_CLOCK: Final = WallClock(None, "none")


def dumps(obj: Obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _packet_event(h: Hop) -> Event | None:
    """The hop's event that saw the packet itself (not a route lookup or FDB update)."""
    for e in h.events:
        if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE) and e.key.present:
            return e
    return next((e for e in h.events if e.key.present), None)


def flow(k: L4Key) -> Obj:
    """Addresses, protocol and ports (or the ICMP/ICMPv6 header) of one IPv4 or IPv6 key."""
    out: Obj = {"src": k.src or None, "dst": k.dst or None,
                "proto": IP_PROTOS.get(k.proto, str(k.proto) if k.proto else None)}
    if k.proto in (IPPROTO_ICMP, IPPROTO_ICMPV6) and k.icmp_type != 0xFF:  # 0xFF: not read here
        out["icmp"] = {"type": k.icmp_type, "code": k.icmp_code,
                       **({"id": k.sport, "seq": k.dport} if k.is_icmp_echo else {})}
    elif k.proto in (IPPROTO_TCP, IPPROTO_UDP):
        out["sport"], out["dport"] = k.sport, k.dport
    return out


def hop_record(h: Hop, t0: int, prev: int, clock: WallClock) -> Obj:
    """A hop as the text views show it, plus the packet's fields, time and headers."""
    out: Obj = dict(h.to_dict(t0, prev))
    out["ts_ns"] = h.t_ns
    out["time"] = clock.iso(h.t_ns)
    e = _packet_event(h)
    out.update(flow(e.key) if e is not None else {"src": None, "dst": None, "proto": None})
    out["outer"] = None
    if e is not None and e.inner is not None:
        out["outer"] = {**flow(e.outer), "vni": e.vni}
    cap = next((x for x in h.events if x.headers), None)
    out["headers"] = decode(cap.headers, cap.headers_l3) if cap is not None else []
    out["captured_bytes"] = len(cap.headers) if cap is not None else 0
    return out


def _hops(hops: Sequence[Hop], t0: int, clock: WallClock) -> list[Obj]:
    out, prev = [], t0
    for h in hops:
        out.append(hop_record(h, t0, prev, clock))
        prev = h.t_ns
    return out


def diagnosis_record(d: Diagnosis) -> Obj:
    """Cause, the checks made (facts read from the topology), the fix; ``evidence`` for old readers."""
    out: Obj = dict(d.to_dict())
    out["checks"] = list(d.evidence)
    out["culprit"] = {"netns": d.culprit[0], "dev": d.culprit[1]} if d.culprit else None
    return out


def packet_record(command: str, n: int, p: Packet, topo: Topology | None, *,
                  src: str = "", dst: str = "", clock: WallClock = NO_CLOCK,
                  paired: bool = True, nf: Counters | None = None) -> Obj:
    """One packet (an echo's request and reply together) as a ``packet`` record.

    ``src``/``dst`` override the packet's own (``ping`` knows its source
    address and the destination it was asked for); ``paired`` is False for a
    lone journey (``trace`` streams them), whose missing reply proves nothing.
    """
    first = p.request[0] if p.request else (p.reply[0] if p.reply else None)
    # the packet's own flow: a lookup leading the journey may be another socket's to the
    # same address (iputils ping connects a UDP socket first to choose its source)
    hops = p.request + p.reply
    e = next((x for h in hops for x in h.events
              if x.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE) and x.key.present),
             next((x for h in hops if (x := _packet_event(h)) is not None), None))
    obj: Obj = {"schema_version": SCHEMA_VERSION, "type": "packet", "command": command,
                "packet": n, "what": p.what, "seq": p.seq if p.echo else None,
                "id": p.ident if p.echo else None, "status": str(p.status),
                "src": src or p.src or (e.key.src if e else ""),
                "dst": dst or p.dst or (e.key.dst if e else ""),
                "proto": flow(e.key)["proto"] if e else None, "rtt_ns": p.rtt_ns,
                "ts_ns": first.t_ns if first else None,
                "time": clock.iso(first.t_ns) if first else None,
                "request": _hops(name_nat(p.request, nf, reply=False), p.t0, clock),
                "reply": _hops(name_nat(p.reply, nf, reply=True), p.t0, clock)}
    if p.drop is not None:
        obj["drop"] = {"netns": p.drop.netns, "dev": p.drop.dev, "reason": p.drop.reason,
                       "location": p.drop.location}
    if p.error:
        obj["error"] = p.error
    # an unanswered echo is diagnosed only when its reply could have been paired with it
    wanted = p.status == Status.DROPPED or (p.echo and paired)
    d = diagnose(p, topo, nf) if topo is not None and wanted else None
    if d is not None:
        obj["diagnosis"] = diagnosis_record(d)
    return obj


def summary_record(command: str, statuses: Sequence[str], events: int, lost: int,
                   damage: Obj | None = None, clock: WallClock = NO_CLOCK,
                   evicted: int = 0) -> Obj:
    """The last line: counts by status, events, events lost while tracing, packets the
    correlator's bounds forgot before completion (``evicted``), recording damage."""
    counts = {s: sum(1 for x in statuses if x == s) for s in STATUSES}
    return {"schema_version": SCHEMA_VERSION, "type": "summary", "command": command,
            "packets": len(statuses), "delivered": counts["delivered"],
            "dropped": counts["dropped"], "unanswered": counts["unanswered"],
            "in_flight": counts["in flight"], "partial": counts["partial"], "events": events,
            "lost": lost,
            "evicted": evicted, "damage": damage, "time_source": clock.source}


def journey_packet(j: Journey, topo: Topology, n: int) -> Packet:
    """One journey on its own as a Packet, for ``trace``'s streaming output.

    ``trace`` prints each journey as it completes so its memory stays bounded
    (tracer/render/stream.py); an echo's request and reply are then two
    records (``request`` or ``reply`` filled), and the status is the
    journey's own: dropped, delivered, or unanswered (not seen arriving).
    """
    hops = tuple(build_hops(j, topo))
    key = j.packet()
    icmp = j.icmp
    echo = icmp is not None and icmp[0] in (ICMP_ECHO, ICMP_ECHOREPLY)
    p = Packet(n, inert(" ".join(str(x) for x in j.key)), src=key.src, dst=key.dst, echo=echo,
               ident=icmp[1] if icmp and echo else 0, seq=icmp[2] if icmp and echo else 0)
    if j.is_reply():
        p.reply = hops
    else:
        p.request = hops
    p.status = (Status.DROPPED if p.drop is not None
                else Status.DELIVERED if any(h.verb == Verb.DELIVER for h in hops)
                else Status.UNANSWERED)
    return p
