"""IPv6 in the event struct and the recording (schema 5), and the recordings made before it.

The struct grew saddr6/daddr6 (layout 5); a raw batch names its layout, so
batches written by a brtrace without IPv6 (no ``layout`` key: 4) must decode
into the same Events, and every sample in ``samples/`` must still replay.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import msgspec
import numpy as np
import pytest

from tests.support.synth import flannel_batch
from tracer.correlate.columns import columns, key_tuples
from tracer.correlate.journey import Hop, packet_key
from tracer.correlate.vocab import Verb
from tracer.explain import explain
from tracer.headers import decode
from tracer.model import ICMP_ECHO, IPPROTO_ICMPV6, Event, Hook, L4Key
from tracer.ndp import ndp_name
from tracer.record import RecordWriter, open_recording
from tracer.record.raw import decode_raw, encode_raw
from tracer.record.rowsums import row_sums
from tracer.schema.decode import Decoder
from tracer.schema.event import F_INNER, F_INNER_V6, F_MAC, F_V6, LAYOUT, event_dtype, legacy_event_dtype
from tracer.schema.recording import SCHEMA_VERSION
from tracer.source import SourceInfo
from tracer.topology.model import Topology

SAMPLES = sorted((Path(__file__).parents[2] / "samples").glob("*.brt"))
A6 = ipaddress.IPv6Address("fd00:10:244::2").packed
B6 = ipaddress.IPv6Address("fd00:10:244:1::3").packed


def _legacy_payload(arr: np.ndarray) -> bytes:
    """A raw batch as a brtrace before IPv6 wrote it: the old struct, no layout key."""
    old = np.zeros(len(arr), dtype=legacy_event_dtype(4))
    for name in old.dtype.names or ():
        old[name] = arr[name]
    return msgspec.msgpack.encode({"snaplen": 128, "records": old.tobytes(), "reasons": {},
                                   "syms": {}, "sums": row_sums(old).tobytes()})


def test_layout_4_raw_batches_decode_as_before() -> None:
    arr = flannel_batch(72)
    dec = Decoder()
    new = list(decode_raw(encode_raw(arr, dec)))
    old = list(decode_raw(_legacy_payload(arr)))
    assert legacy_event_dtype(4).itemsize == event_dtype().itemsize - 32
    assert old == new and len(old) == 72
    assert all(not e.outer.v6 for e in old)
    assert old[0].outer.src == "10.244.0.2"


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_still_replays(sample: Path) -> None:
    rec = open_recording(sample)
    try:
        evs = rec.events()
    finally:
        rec.close()
    assert rec.damage is None and evs
    assert any(e.key.src for e in evs)


def _v6_event(inner: bool) -> np.ndarray:
    arr = np.zeros(1, dtype=event_dtype())
    arr["hook"] = int(Hook.NET_DEV_QUEUE)
    arr["ifname"] = b"eth0"
    arr["ethertype"] = 0x86DD
    key = arr["inner"] if inner else arr["outer"]
    key["saddr"] = int.from_bytes(A6[12:], "little")
    key["daddr"] = int.from_bytes(B6[12:], "little")
    key["proto"] = IPPROTO_ICMPV6
    key["icmp_type"] = 128
    key["sport"] = 0xB702
    key["dport"] = 1
    arr["saddr6"] = np.frombuffer(A6, dtype="V16")[0]
    arr["daddr6"] = np.frombuffer(B6, dtype="V16")[0]
    arr["flags"] = F_MAC | (F_INNER | F_INNER_V6 if inner else F_V6)
    if inner:
        arr["outer"]["saddr"] = 0x0B32A8C0
        arr["outer"]["proto"] = 17
    return arr


@pytest.mark.parametrize("inner", [False, True])
def test_ipv6_key_decodes_and_round_trips(tmp_path: Path, inner: bool) -> None:
    arr = _v6_event(inner)
    ev = list(decode_raw(encode_raw(arr, Decoder())))[0]
    assert ev.key.v6 and ev.key.src == "fd00:10:244::2" and ev.key.dst == "fd00:10:244:1::3"
    assert ev.key.echo_type == ICMP_ECHO
    assert packet_key(ev) == ("icmp", ICMP_ECHO, 0xB702, 1)  # paired as any ping
    if inner:
        assert ev.outer.src == "192.168.50.11" and not ev.outer.v6
    assert Event.from_dict(ev.to_dict()) == ev
    path = tmp_path / "v6.brt"
    w = RecordWriter(path, SourceInfo(live=False, topology=Topology()))
    w.write_batch([ev])  # an event batch (msgpack), not raw
    w.close()
    rec = open_recording(path)
    assert rec.events() == [ev] and rec.schema_version == SCHEMA_VERSION == 6 and LAYOUT == 5
    rec.close()


def test_old_event_dicts_have_no_ipv6_addresses() -> None:
    d = Event(1, 0, Hook.NET_DEV_QUEUE, 1, 1, 1, "eth0", 60, outer=L4Key(1, 2, 1)).to_dict()
    outer = d["outer"]
    assert isinstance(outer, dict)
    del outer["saddr6"], outer["daddr6"]  # as written before IPv6
    assert Event.from_dict(d).outer == L4Key(1, 2, 1)


def test_column_keys_match_packet_keys_for_icmpv6() -> None:
    """The correlator's vectorised keys are packet_key's, ICMPv6 echo and NDP included."""
    arr = np.concatenate([_v6_event(False), _v6_event(True), _v6_event(False), flannel_batch(18)])
    arr[2]["outer"]["icmp_type"] = 135  # a neighbour solicitation: an IP key, not an echo
    arr[2]["outer"]["sport"] = arr[2]["outer"]["dport"] = 0
    evs = list(Decoder().decode(arr))
    cols = columns(arr)
    got = key_tuples(cols.hi, cols.lo)
    assert got == [packet_key(e) for e in evs]
    assert got[0] == got[1] == ("icmp", ICMP_ECHO, 0xB702, 1)
    assert got[2] is not None and got[2][:2] == ("ip", IPPROTO_ICMPV6) and evs[2].key.is_ndp


def test_ipv6_headers_decode_with_extension_headers_and_ndp_target() -> None:
    """tracer/headers.py skips extension headers as the probes do and names the NDP target."""
    from scapy.layers.inet6 import ICMPv6ND_NS, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Ether

    frame = bytes(Ether() / IPv6(src="fd00:172:16::11", dst="ff02::1:ff00:21") / IPv6ExtHdrHopByHop()
                  / IPv6ExtHdrDestOpt() / ICMPv6ND_NS(tgt="fd00:172:16::21"))
    layers = decode(frame)
    assert [x["layer"] for x in layers] == ["ethernet", "ipv6", "icmpv6"]
    assert layers[1]["src"] == "fd00:172:16::11" and layers[1]["proto"] == "icmpv6"
    assert layers[2]["name"] == "neighbor-solicitation" and layers[2]["target"] == "fd00:172:16::21"


def test_ndp_is_named_and_taught_as_arp_is() -> None:
    ns = L4Key(1, 2, IPPROTO_ICMPV6, icmp_type=135, saddr6=A6, daddr6=B6)
    assert ndp_name(ns) == "ndp neighbor-solicitation" and ndp_name(L4Key(1, 2, 1)) is None
    hop = Hop(1, 0, netns="bridge-host", dev="br0", kind="bridge", verb=Verb.BRIDGE_FLOOD, action="flooded",
              events=(Event(1, 0, Hook.NETIF_RECEIVE_SKB, 1, 1, 1, "br0", 86, outer=ns),))
    assert "IPv6's ARP" in explain(hop) and "ARP" in explain(hop, "zh")
