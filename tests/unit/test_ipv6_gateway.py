"""An IPv6 route lookup's gateway (schema 6), from the probe's record to the hop text.

fib6_table_lookup's next hop carries its gateway in the inner key's bytes
(F_GW6: a route event has no inner packet), so the struct did not grow. The
hop text takes it from the event as IPv4's does, and falls back to the
topology's route only for recordings made before schema 6 (the IPv6 sample).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import msgspec
import numpy as np

from tracer.correlate import Correlator
from tracer.correlate.pairing import probe_packet
from tracer.explain import explain
from tracer.model import Event, Hook, Route
from tracer.record import RecordWriter, open_recording
from tracer.record import format as fmt
from tracer.record.raw import decode_raw, encode_raw
from tracer.schema.decode import Decoder
from tracer.schema.event import F_GW6, F_ROUTE, F_V6, event_dtype
from tracer.source import SourceInfo
from tracer.topology.model import Topology

SAMPLE = Path(__file__).parents[2] / "samples" / "ipv6-ping.brt"
A6 = ipaddress.IPv6Address("fd00:10:244::2").packed
B6 = ipaddress.IPv6Address("fd00:10:244:1::3").packed
GW6 = ipaddress.IPv6Address("fd00:10:244:1::").packed


def _route_record(flags: int) -> np.ndarray:
    """One fib6_table_lookup record as the probe writes it, the gateway in the inner key."""
    arr = np.zeros(1, dtype=event_dtype())
    arr["hook"] = int(Hook.FIB_TABLE_LOOKUP)
    arr["flags"] = flags
    arr["fib_table"], arr["fib_nh_ifindex"], arr["fib_iif"] = 254, 4, 3
    arr["saddr6"] = np.frombuffer(A6, dtype="V16")[0]
    arr["daddr6"] = np.frombuffer(B6, dtype="V16")[0]
    arr["outer"]["icmp_type"] = 0xFF
    arr["outer"]["proto"] = 58
    off = arr.dtype.fields["inner"][1]
    arr.view(np.uint8)[off:off + 16] = np.frombuffer(GW6, dtype=np.uint8)
    return arr


def test_the_gateway_decodes_from_the_inner_keys_bytes(tmp_path: Path) -> None:
    ev = list(decode_raw(encode_raw(_route_record(F_ROUTE | F_V6 | F_GW6), Decoder())))[0]
    assert ev.route is not None and ev.route.gateway6 == GW6 and ev.route.via == "fd00:10:244:1::"
    assert ev.inner is None and ev.outer.dst == "fd00:10:244:1::3"  # the bytes are not a packet
    assert Event.from_dict(ev.to_dict()) == ev
    path = tmp_path / "gw.brt"
    w = RecordWriter(path, SourceInfo(live=False, topology=Topology()))
    w.write_batch([ev])  # an event batch (msgpack): the route's gateway6 goes with it
    w.close()
    with open_recording(path) as rec:
        assert rec.events() == [ev] and rec.schema_version == 6


def test_without_the_flag_those_bytes_are_no_gateway() -> None:
    """Before schema 6 nothing was written there, and nothing is read without F_GW6."""
    ev = Decoder().decode_all(_route_record(F_ROUTE | F_V6))[0]
    assert ev.route is not None and ev.route.gateway6 == b"" and ev.route.via == ""


def test_a_route_from_a_schema_5_event_batch_has_no_ipv6_gateway() -> None:
    old = msgspec.msgpack.encode([254, 0, 0, 3, 4, 0x0100F40A])  # six fields, as schema 5 wrote
    r = msgspec.msgpack.decode(old, type=fmt._WireRoute)
    assert (r.gateway, r.gateway6) == (0x0100F40A, b"")
    assert Route(254, 0, 0, 3, 4, 0x0100F40A).via == "10.244.0.1"


def _probe(topo: Topology, events: list[Event]) -> list[str]:
    corr = Correlator()
    corr.feed(events)
    p = probe_packet(corr, topo, 0xB7D5, 1)
    return [h.action for h in p.request if h.verb == "route"]


def _sample() -> tuple[Topology, list[Event]]:
    with open_recording(SAMPLE) as rec:
        return rec.info.topology, rec.events()


def test_the_hop_shows_the_events_gateway_not_the_topologys() -> None:
    """node1's routes removed from the snapshot: the gateway can only come from the event."""
    topo, events = _sample()
    node1 = next(ns for ns in topo.namespaces if ns.label == "node1")
    bare = replace(topo, namespaces=tuple(replace(ns, routes=()) if ns is node1 else ns
                                          for ns in topo.namespaces))
    with_gw = [replace(e, route=replace(e.route, gateway6=GW6))
               if e.route is not None and e.netns == node1.inode and e.outer.dst == "fd00:10:244:1::3"
               else e for e in events]
    node1_routes = [a for a in _probe(bare, with_gw) if "in node1: fd00:10:244:1::3" in a]
    assert node1_routes and all(" via fd00:10:244:1:: dev flannel.1" in a for a in node1_routes)
    assert not any(" via " in a for a in _probe(bare, events) if "in node1: fd00:10:244:1::3" in a)


def test_explain_reads_an_ipv6_lookup_as_ipv6() -> None:
    """The teaching text named the lookup's address by its last 4 bytes (0.0.0.3)."""
    topo, events = _sample()
    corr = Correlator()
    corr.feed(events)
    p = probe_packet(corr, topo, 0xB7D5, 1)
    hop = next(h for h in p.request if h.verb == "route" and h.netns == "node1")
    text = explain(hop, "en", topo)
    assert "0.0.0.3" not in text
    assert "fd00:10:244:1::3 matches the route fd00:10:244:1::/64" in text, text
    assert "via the gateway fd00:10:244:1::" in text, text
