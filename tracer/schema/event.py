"""``struct brt_event``, the record every hook emits, described once.

The tables below are the event's schema: each C field with its C type and
the :class:`~tracer.model.Event` attribute it feeds. The numpy dtype that
decodes a ring-buffer batch (and a recording's raw batch) is built from them,
the loader generates compile-time checks of ``probes/brtrace.h``'s struct
from them (``probes/cgen.py``: the real compiler verifies every offset and
size at each load), and the unit tests check the header, the decoder and the
recording format against them, types included.

Why one fixed-size struct: a ring-buffer batch is then an array of identical
records, so header checks and field extraction are vectorised and Events are
built lazily (``tracer/schema/decode.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

DEFAULT_SNAPLEN: Final = 128
# An input route lookup (flowi4_iif a device; output lookups say LOOPBACK_IFINDEX)
# is stamped its packet's previous record's time + ROUTE_STAMP_NS instead of
# being timed (brtrace.c: fib_stamp): its place in the order is exact, its time is not its own.
ROUTE_STAMP_NS: Final = 1
LOOPBACK_IFINDEX: Final = 1

# flags: which optional parts of an event are set (C: BRT_F_<name>)
F_L3: Final = 1  # headers[] starts at the IP header, not Ethernet
F_INNER: Final = 2  # inner holds a VXLAN-encapsulated packet's key
F_ROUTE: Final = 4  # fib_* fields are set
F_FDB: Final = 8  # fdb_* fields are set
F_MAC: Final = 16  # src_mac/dst_mac are set
F_V6: Final = 32  # outer is IPv6: saddr6/daddr6 hold its addresses (layout 5)
F_INNER_V6: Final = 64  # inner is IPv6: saddr6/daddr6 hold its addresses (layout 5)
# A route event's IPv6 gateway: its 16 bytes in the inner key's place (saddr, daddr,
# ip_id, sport, dport, proto, ttl), which a route event never uses (no F_INNER). The
# struct does not grow for one field of one hook; recordings say it from schema 6.
F_GW6: Final = 128
FLAGS: Final = {"L3": F_L3, "INNER": F_INNER, "ROUTE": F_ROUTE, "FDB": F_FDB, "MAC": F_MAC,
                "V6": F_V6, "INNER_V6": F_INNER_V6, "GW6": F_GW6}


@dataclass(frozen=True, slots=True)
class CType:
    """A C scalar type as brtrace.h spells it (the kernel's fixed-width types)."""

    name: str
    size: int
    signed: bool

    @property
    def numpy(self) -> str:
        return ("<i" if self.signed else "<u") + str(self.size) if self.size > 1 else (
            "i1" if self.signed else "u1")


U8: Final = CType("u8", 1, False)
U16: Final = CType("u16", 2, False)
U32: Final = CType("u32", 4, False)
U64: Final = CType("u64", 8, False)
S32: Final = CType("s32", 4, True)
CHAR: Final = CType("char", 1, True)  # only in arrays: bytes of a string


@dataclass(frozen=True, slots=True)
class CStruct:
    """A C struct: its name and fields in declaration order."""

    name: str
    fields: tuple[CField, ...]


SNAPLEN: Final = 0  # as an array length: BRT_SNAPLEN, chosen at load time


@dataclass(frozen=True, slots=True)
class CField:
    """One struct member. ``count`` > 1 (or SNAPLEN) makes it an array.

    ``event`` names what the field becomes in an Event: an attribute
    (``length``), a nested one (``route.table``), or "" for framing that no
    attribute carries as such (``flags``, ``hdr_len``, ``pad``).
    """

    name: str
    ctype: CType | CStruct
    count: int = 1
    event: str = ""

    @property
    def is_array(self) -> bool:
        return self.count != 1


def _same(*names: str, ctype: CType) -> tuple[CField, ...]:
    return tuple(CField(n, ctype, event=n) for n in names)


# A route lookup's fields, in brt_event and in brt_route (the same order in both).
_FIB: Final = (
    CField("fib_table", U32, event="route.table"),
    CField("fib_err", S32, event="route.err"),
    CField("fib_oif", U32, event="route.oif"),
    CField("fib_iif", U32, event="route.iif"),
    CField("fib_nh_ifindex", U32, event="route.nh_ifindex"),
    CField("fib_gw", U32, event="route.gateway"),
)

BRT_KEY: Final = CStruct("brt_key", (
    # network byte order; an IPv6 key holds its addresses' last 4 bytes here (what the
    # correlator's key words compare) and the whole 16 in the event's saddr6/daddr6
    *_same("saddr", "daddr", ctype=U32),
    *_same("ip_id", "sport", "dport", ctype=U16),  # host order; ICMP: echo id, sequence
    *_same("proto", "ttl", "icmp_type", "icmp_code", ctype=U8),  # icmp_type 0xff: not ICMP
    CField("pad", U16),
))

BRT_EVENT: Final = CStruct("brt_event", (
    *_same("ts_ns", "skb", "location", ctype=U64),
    *_same("netns", "ifindex", ctype=U32),
    CField("len", U32, event="length"),
    *_same("drop_reason", "vni", ctype=U32),
    *_FIB,
    *_same("cpu", "hook", "ethertype", "vlan", "fdb_vlan", ctype=U16),
    CField("pkt_type", U8, event="pkt_type"),
    CField("flags", U8),
    CField("ifname", CHAR, 16, event="ifname"),
    *(CField(n, U8, 6, event=n)
      for n in ("src_mac", "dst_mac", "inner_src_mac", "inner_dst_mac", "fdb_mac")),
    # the IPv6 key's whole addresses (F_V6: outer's, F_INNER_V6: inner's, inner first when
    # both; a route event's flow): 32 bytes only, not 16 in each key
    CField("saddr6", U8, 16),
    CField("daddr6", U8, 16),
    CField("hdr_len", U16),
    CField("outer", BRT_KEY, event="outer"),
    CField("inner", BRT_KEY, event="inner"),
    CField("headers", U8, SNAPLEN, event="headers"),
))


# A hop record (brtrace.c: emit_hop), the same skb at a later hook with every
# byte the parser and headers[] take from it unchanged since its last full
# record on this CPU: what the parse would give again is not written again.
# Most of a traced packet's hooks are such repeats (a veth's two ends, a
# bridge's ports); a full record is ~300 bytes and a parse, a hop 72. The
# drain makes each hop a whole event again (tracer/schema/hops.py): its base
# record's row, these fields replaced. Hops travel only from the probes to
# the drain: recordings and the agents' wire carry whole events.
BRT_HOP: Final = CStruct("brt_hop", (
    *_same("ts_ns", "skb", "location", ctype=U64),
    CField("base_ts", U64),  # ts_ns of the full record it repeats (same CPU)
    *_same("netns", "ifindex", ctype=U32),
    CField("len", U32, event="length"),
    CField("drop_reason", U32, event="drop_reason"),
    *_same("cpu", "hook", ctype=U16),
    CField("pkt_type", U8, event="pkt_type"),
    CField("pad", U8, 3),
    CField("ifname", CHAR, 16, event="ifname"),
))
# The event fields a hop carries itself (the rest are its base record's).
HOP_FIELDS: Final = tuple(f.name for f in BRT_HOP.fields if f.event)

# An IPv4 route lookup as its own record (brtrace.c: emit_route): the fields
# a route event sets, 80 bytes instead of a whole event's 296 to clear and
# write. The drain makes each one the event (tracer/schema/routes.py).
BRT_ROUTE: Final = CStruct("brt_route", (
    *_same("ts_ns", "skb", ctype=U64),
    *_same("netns", "ifindex", ctype=U32),
    *_FIB,
    CField("saddr", U32, event="outer.saddr"),  # the flow's addresses and protocol: brt_event.outer's
    CField("daddr", U32, event="outer.daddr"),
    *_same("cpu", "hook", ctype=U16),
    CField("proto", U8, event="outer.proto"),
    CField("flags", U8),
    CField("pad", U8, 2),
    CField("ifname", CHAR, 16, event="ifname"),
))
# A packet whose layout the probes proved plain (brtrace.c: emit_raw): its
# header bytes and what the skb says, 200 bytes, without the parse's fields;
# the drain parses the fixed offsets such a layout has (tracer/schema/raw.py).
# Like hops, raw records travel only from the probes to the drain.
BRT_RAW: Final = CStruct("brt_raw", (
    *_same("ts_ns", "skb", "location", ctype=U64),
    *_same("netns", "ifindex", ctype=U32),
    CField("len", U32, event="length"),
    CField("drop_reason", U32, event="drop_reason"),
    *_same("cpu", "hook", "vlan", ctype=U16),
    CField("hdr_len", U16),
    CField("pkt_type", U8, event="pkt_type"),
    CField("flags", U8),  # F_L3 or F_MAC; F_INNER: a plain VXLAN frame
    CField("pad", U8, 6),
    CField("ifname", CHAR, 16, event="ifname"),
    CField("headers", U8, SNAPLEN, event="headers"),
))
# The brt_event fields a raw record fills as they are (the parse fills the rest).
RAW_INTO: Final = tuple(f.name for f in BRT_RAW.fields if f.name != "pad")

# Where each route record field goes in brt_event (a key's member as "outer.<name>").
ROUTE_INTO: Final = tuple((f.name, f"outer.{f.name}" if f.event.startswith("outer.") else f.name)
                          for f in BRT_ROUTE.fields if f.name != "pad")

# Event attributes no brt_event field holds as such: the drop reason's and the
# location's names (the loader resolves them from BTF and kallsyms) and F_L3.
EVENT_ONLY: Final = ("reason_name", "location_sym", "headers_l3")
# L4Key attributes the event (not brt_key) holds: the IPv6 key's whole addresses.
KEY_FROM_EVENT: Final = ("saddr6", "daddr6")
# Route attributes no brt_event field holds as such: the IPv6 gateway (F_GW6: the inner key's bytes).
ROUTE_FROM_INNER: Final = ("gateway6",)


def _format(f: CField, snaplen: int) -> str | np.dtype:
    if isinstance(f.ctype, CStruct):
        return struct_dtype(f.ctype, snaplen)
    if not f.is_array:
        return f.ctype.numpy
    n = snaplen if f.count == SNAPLEN else f.count
    return f"S{n}" if f.ctype is CHAR else f"V{n}"  # a string, or raw bytes (MACs, headers)


def struct_dtype(s: CStruct, snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """The C struct as a packed numpy dtype (brtrace.h orders fields so none needs padding)."""
    return np.dtype([(f.name, _format(f, snaplen)) for f in s.fields], align=False)


KEY_DTYPE: Final = struct_dtype(BRT_KEY)


def event_dtype(snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """``struct brt_event`` with ``headers[snaplen]``."""
    return struct_dtype(BRT_EVENT, snaplen)


# The struct's layouts: 5 added saddr6/daddr6 (IPv6). Raw batches name theirs
# (tracer/record/raw.py), so batches recorded before IPv6 still decode.
LAYOUT: Final = 5
_V6_FIELDS: Final = ("saddr6", "daddr6")
BRT_EVENT_4: Final = CStruct("brt_event", tuple(f for f in BRT_EVENT.fields if f.name not in _V6_FIELDS))


def legacy_event_dtype(layout: int, snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """The struct as brtraces before ``layout`` 5 wrote it (no IPv6 addresses)."""
    if layout >= LAYOUT:
        return event_dtype(snaplen)
    return struct_dtype(BRT_EVENT_4, snaplen)


def upgrade(arr: np.ndarray, snaplen: int) -> np.ndarray:
    """An array of an older layout as today's struct (new fields zero)."""
    out = np.zeros(len(arr), dtype=event_dtype(snaplen))
    names = arr.dtype.names or ()
    for name in names:
        out[name] = arr[name]
    return out


def hop_dtype() -> np.dtype:
    """``struct brt_hop``."""
    return struct_dtype(BRT_HOP)


def _ring_record(ev: np.dtype) -> np.dtype:
    size = (8 + ev.itemsize + 7) & ~7
    return np.dtype({"names": ["rb_len", "rb_pgoff", "ev"],
                     "formats": ["<u4", "<u4", ev], "offsets": [0, 4, 8], "itemsize": size})


def hop_record_dtype() -> np.dtype:
    """A hop ring's record: the ring header, then the hop (see record_dtype)."""
    return _ring_record(hop_dtype())

def route_dtype() -> np.dtype:
    """``struct brt_route``."""
    return struct_dtype(BRT_ROUTE)


def route_record_dtype() -> np.dtype:
    """A route ring's record: the ring header, then the route lookup."""
    return _ring_record(route_dtype())

def raw_dtype(snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """``struct brt_raw`` (written only with the default snaplen: brtrace.c, BRT_RAW)."""
    return struct_dtype(BRT_RAW, snaplen)


def raw_record_dtype() -> np.dtype:
    """A raw ring's record: the ring header, then the packet."""
    return _ring_record(raw_dtype())


def record_dtype(snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """A ring-buffer record: 8-byte header (len | busy/discard bits, page offset),
    the event, padded to 8 bytes as the kernel's ring buffer does.

    Here, not in ``probes``, because the agents' wire (``tracer/agent/wire.py``)
    ships raw ring records and must not import the loader's package.
    """
    return _ring_record(event_dtype(snaplen))
