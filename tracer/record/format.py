"""The recording file format: framing, header and event encoding.

Layout (all integers little-endian)::

    preamble   MAGIC (8 bytes) + schema_version (u32)
    record*    length (u32) + crc32 (u32) + kind (1 byte) + payload (length bytes)

``crc32`` covers the length field, the kind byte and the payload, so a torn
write, a truncated tail or flipped bytes are all detected record by record and
everything before the damage stays readable. The first record is the header
(kind ``H``): a msgpack map holding the :class:`~tracer.source.SourceInfo`
(topology snapshot, kernel, hook statuses, filter, command) and the created
time. Then come event batches, as msgpack arrays (kind ``B``) or as the
kernel's raw records (kind ``R``, ``record/raw.py``, from schema_version 2),
and, when the writer was closed cleanly, one trailer (kind ``E``) with the
source's counters. Since schema_version 4 a copy of the header follows it
(kind ``C``), read only when the header is damaged. The magic, the version
and the kinds are schema (``tracer/schema/recording.py``).

Events are msgpack arrays of :class:`~tracer.model.Event`'s fields in
declaration order (``L4Key``/``Route`` nested as arrays too), one array of
events per batch record. ``bench/record_format.py`` measures this against JSON
lines and msgpack maps: arrays are 4x smaller than JSON and 2.4x smaller than
maps, load about as fast as maps and 6x faster than JSON, because msgspec
validates the arrays and builds the frozen dataclasses in C (no per-field
Python). Building a million dataclasses is most of the load time.

Nothing here evaluates content: msgspec decodes plain msgpack into typed
values, never pickle or eval.
"""

from __future__ import annotations

import operator
import struct
import zlib
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Final

import msgspec

from tracer.model import Event, Hook, HookMode, HookStatus, L4Key, Route, SourceStats
from tracer.schema.recording import KIND_BATCH as KIND_BATCH
from tracer.schema.recording import KIND_END as KIND_END
from tracer.schema.recording import KIND_HEADER as KIND_HEADER
from tracer.schema.recording import KIND_HEADER_COPY as KIND_HEADER_COPY
from tracer.schema.recording import MAGIC as MAGIC
from tracer.schema.recording import READABLE_VERSIONS as READABLE_VERSIONS
from tracer.schema.recording import SCHEMA_VERSION as SCHEMA_VERSION
from tracer.source import SourceInfo
from tracer.topology.model import Topology

PREAMBLE: Final = struct.Struct("<8sI")
RECORD_HEAD: Final = struct.Struct("<IIc")  # length, crc32, kind
# A record larger than this is a corrupted length, not data: refuse to allocate it.
MAX_PAYLOAD: Final = 64 << 20
# Events per batch record: big enough to amortise framing, small enough to stream.
BATCH_EVENTS: Final = 4096

EVENT_FIELDS: Final = tuple(f.name for f in fields(Event))


class _WireKey(msgspec.Struct, array_like=True, gc=False):
    """``L4Key`` as it sits in a file; field order is the schema."""

    saddr: int
    daddr: int
    proto: int
    ip_id: int
    ttl: int
    sport: int
    dport: int
    icmp_type: int
    icmp_code: int
    saddr6: bytes = b""  # schema 5: an IPv6 key's whole addresses (absent before)
    daddr6: bytes = b""


class _WireRoute(msgspec.Struct, array_like=True, gc=False):
    table: int
    err: int
    oif: int
    iif: int
    nh_ifindex: int
    gateway: int
    gateway6: bytes = b""  # schema 6: an IPv6 lookup's gateway (absent before)


class _WireEvent(msgspec.Struct, array_like=True, gc=False):
    """``Event`` as it sits in a file (schema_versions 1 and 2: version 2 added
    record kind ``R``, not fields). This is the recording's description of an
    Event, frozen with the version; ``tests/unit/test_schema.py`` checks it
    against :class:`~tracer.model.Event` field by field, types included.

    Decoding into this validates every field's type in C; ``msgspec.convert``
    then builds the frozen ``Event`` objects without a per-field Python loop.
    """

    ts_ns: int
    cpu: int
    hook: Hook
    skb: int
    netns: int
    ifindex: int
    ifname: str
    length: int
    src_mac: str
    dst_mac: str
    ethertype: int
    vlan: int
    outer: _WireKey
    vni: int
    inner: _WireKey | None
    inner_src_mac: str
    inner_dst_mac: str
    drop_reason: int
    location: int
    reason_name: str
    location_sym: str
    route: _WireRoute | None
    fdb_mac: str
    fdb_vlan: int
    pkt_type: int
    headers: bytes
    headers_l3: bool


class _WireHeader(msgspec.Struct):
    """The header record; ``topology`` stays a plain map for ``Topology.from_dict``."""

    created: float
    event_fields: list[str]
    live: bool
    topology: dict[str, Any]
    hooks: list[tuple[int, str, str]]
    kernel: str = ""
    filter: str = ""
    command: str = ""
    writer: str = ""


class _WireEnd(msgspec.Struct):
    events: int = 0
    lost: int = 0
    batches: int = 0


class FormatError(ValueError):
    """A record whose checksum is fine but whose content is not what we wrote."""


_ENCODER: Final = msgspec.msgpack.Encoder()
_BATCH_DECODER: Final = msgspec.msgpack.Decoder(list[_WireEvent])
_HEADER_DECODER: Final = msgspec.msgpack.Decoder(_WireHeader)
_END_DECODER: Final = msgspec.msgpack.Decoder(_WireEnd)
_event_attrs = operator.attrgetter(*EVENT_FIELDS)
_key_attrs = operator.attrgetter(*(f.name for f in fields(L4Key)))
_route_attrs = operator.attrgetter(*(f.name for f in fields(Route)))

assert EVENT_FIELDS == _WireEvent.__struct_fields__, "Event changed: bump SCHEMA_VERSION"
assert EVENT_FIELDS.index("outer") == 12 and EVENT_FIELDS.index("inner") == 14
assert EVENT_FIELDS.index("route") == 21


def event_row(e: Event) -> tuple[Any, ...]:
    """One event as a positional tuple (attrgetter runs in C: the live path is hot)."""
    r = _event_attrs(e)
    inner, route = r[14], r[21]
    return (*r[:12], _key_attrs(r[12]), r[13],
            None if inner is None else _key_attrs(inner), *r[15:21],
            None if route is None else _route_attrs(route), *r[22:])


def encode_batch(events: Sequence[Event]) -> bytes:
    return _ENCODER.encode([event_row(e) for e in events])


def decode_batch(payload: bytes) -> list[Event]:
    """Typed decode then one C-level conversion; raises FormatError on bad content."""
    try:
        wire = _BATCH_DECODER.decode(payload)
        out: list[Event] = msgspec.convert(wire, list[Event], from_attributes=True)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FormatError(str(exc)) from None
    return out


def encode_header(info: SourceInfo, created: float, writer: str) -> bytes:
    return _ENCODER.encode({
        "created": created,
        "event_fields": list(EVENT_FIELDS),
        "live": info.live,
        "topology": info.topology.to_dict(),
        "hooks": [(int(h.hook), h.mode, h.detail) for h in info.hooks],
        "kernel": info.kernel,
        "filter": info.filter,
        "command": info.command,
        "writer": writer,
    })


def decode_header(payload: bytes) -> tuple[SourceInfo, float]:
    """The header's SourceInfo and created time; raises FormatError on bad content."""
    try:
        h = _HEADER_DECODER.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FormatError(str(exc)) from None
    if tuple(h.event_fields) != EVENT_FIELDS:
        raise FormatError("event fields differ from this schema version's")
    try:
        topo = Topology.from_dict(h.topology)
    except Exception as exc:  # noqa: BLE001  (untrusted map into another module's parser)
        raise FormatError(f"bad topology snapshot ({type(exc).__name__}: {exc})") from None
    known = {int(x) for x in Hook}
    modes = {str(m) for m in HookMode}
    # A hook or mode this brtrace does not know (newer probes) is dropped, not fatal.
    hooks = tuple(HookStatus(Hook(k), HookMode(mode), detail)
                  for k, mode, detail in h.hooks if k in known and mode in modes)
    info = SourceInfo(live=h.live, topology=topo, hooks=hooks, kernel=h.kernel,
                      filter=h.filter, command=h.command)
    return info, h.created


def encode_end(stats: SourceStats) -> bytes:
    return _ENCODER.encode({"events": stats.events, "lost": stats.lost,
                            "batches": stats.batches})


def decode_end(payload: bytes) -> SourceStats:
    try:
        e = _END_DECODER.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FormatError(str(exc)) from None
    return SourceStats(events=e.events, lost=e.lost, batches=e.batches)


def record_crc(kind: bytes, payload: bytes) -> int:
    """crc32 over length, kind and payload: a corrupted length is caught too."""
    head = len(payload).to_bytes(4, "little") + kind
    return zlib.crc32(payload, zlib.crc32(head))


def frame(kind: bytes, payload: bytes) -> bytes:
    """The record head that goes in front of ``payload``."""
    return RECORD_HEAD.pack(len(payload), record_crc(kind, payload), kind)


def preamble() -> bytes:
    return PREAMBLE.pack(MAGIC, SCHEMA_VERSION)


def _warm_up() -> None:
    """Resolve the dataclasses' string annotations now, at import.

    msgspec inspects ``Event`` on first conversion, which evaluates *our own*
    annotations via ``typing``; doing it here keeps reading a file free of any
    eval, even an indirect one.
    """
    e = Event(0, 0, Hook.NET_DEV_QUEUE, 0, 0, 0, "", 0, inner=L4Key(), route=Route())
    assert decode_batch(encode_batch([e])) == [e]


_warm_up()
