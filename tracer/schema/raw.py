"""Raw records made whole events: the drain parses what the probes did not.

For a packet its early test found ours in a plain layout, the probes write
its header bytes and what the skb says (``BRT_RAW``; brtrace.c: emit_raw)
instead of parsing it in the kernel, where the parse cost ~70 ns of the
~220 a full record took (bench probecost). Plain means fixed offsets, which
numpy parses a whole batch at a time:

- an untagged Ethernet frame (``F_MAC``), or none at an L3 hook (``F_L3``:
  headers[] starts at the IP header);
- an IPv4 header of 20 bytes, not a later fragment, with 8 bytes of L4 after it;
- with ``F_INNER``: UDP to a VXLAN port, the VXLAN header with its I flag, an
  untagged inner frame and such an IPv4 header in it.

Every parsed field is header bytes moved to where the event holds them
(big-endian numbers byte-swapped into the event's little-endian ones), so a
layout is a table of (event byte, header byte) columns and a batch's parse is
one numpy gather per layout present: ~30 ns a record, where field-by-field
assignments took ~110 and per-row offsets ~190 (a 4,096-record batch).

The fields come out as brtrace.c's parse_skb writes them for the same bytes
(tests/kernel/test_hops.py compares the two on live packets, field by field;
tests/unit/test_raw.py on the recordings in samples/).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np

from tracer.schema.event import F_INNER, F_L3, RAW_INTO, raw_record_dtype, record_dtype
from tracer.schema.hops import byte_rows

ETH_IP = 0x0800
ETH_LEN = 14
IP_LEN = 20  # a plain IPv4 header
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
NOT_ICMP = 0xFF  # brt_key.icmp_type of a key that is not ICMP's
VXLAN_AT = IP_LEN + 8  # the VXLAN header after the outer IP header and UDP's
INNER_IP_AT = VXLAN_AT + 8 + ETH_LEN  # the inner IP header after the outer one
# L4 classes: what the key takes from the 8 bytes after the IP header
OTHER, ICMP, PORTS = 0, 1, 2
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[PROTO_ICMP], _CLASS[PROTO_TCP], _CLASS[PROTO_UDP] = ICMP, PORTS, PORTS

Cols = tuple[np.ndarray, np.ndarray]  # (event record byte, raw record byte) per column


def raw_events(raws: np.ndarray, rec_dtype: np.dtype) -> np.ndarray:
    """Raw ring records as ring records of ``rec_dtype`` (whole events), parsed."""
    n = len(raws)
    out = np.zeros(n, dtype=rec_dtype)
    out["rb_len"] = rec_dtype["ev"].itemsize  # a whole record, as the kernel's header says
    if not n:
        return out
    ev = out["ev"]
    for name in RAW_INTO:  # field by field: numpy moves each in its own width, not byte by byte
        ev[name] = raws["ev"][name]
    ev["ethertype"] = ETH_IP
    ev["outer"]["icmp_type"] = NOT_ICMP
    flags = raws["ev"]["flags"]
    l3 = (flags & F_L3) != 0
    ob, rb = out.view(np.uint8).reshape(n, rec_dtype.itemsize), byte_rows(raws)
    ip = np.where(l3, _HEADERS, _HEADERS + ETH_LEN)  # each row's IP header
    rows = np.arange(n)
    _gather(ob, rb, l3 * 3 + _CLASS[rb[rows, ip + 9]], partial(_outer_columns, rec_dtype.itemsize))
    vxlan = np.flatnonzero(flags & F_INNER)
    if len(vxlan):
        ev["inner"]["icmp_type"][vxlan] = NOT_ICMP
        proto = rb[vxlan, ip[vxlan] + INNER_IP_AT + 9]
        layout = np.full(n, -1, dtype=np.intp)
        layout[vxlan] = l3[vxlan] * 3 + _CLASS[proto]
        _gather(ob, rb, layout, partial(_inner_columns, rec_dtype.itemsize))
    return out


def _gather(ob: np.ndarray, rb: np.ndarray, layout: np.ndarray, columns: Callable[[bool, int], Cols]) -> None:
    """Move each row's columns of its layout (l3 * 3 + L4 class; -1: none) from
    raw record bytes ``rb`` to event record bytes ``ob``."""
    layout = layout.astype(np.intp, copy=False)
    present = np.flatnonzero(np.bincount(layout[layout >= 0]))  # a sort took ~15 ns a record
    for g in present:
        dst, src = columns(bool(g >= 3), int(g % 3))
        if len(present) == 1 and (layout >= 0).all():
            ob[:, dst] = rb[:, src]  # every row, one layout: the common case
        else:  # flat indexes: a 2-D fancy index (np.ix_) took twice as long
            rows = np.flatnonzero(layout == g)[:, None]
            ob.reshape(-1)[rows * ob.shape[1] + dst] = rb.reshape(-1)[rows * rb.shape[1] + src]


def _offset(dtype: np.dtype, path: str) -> int:
    """Byte offset of ``path`` ("ev.outer.saddr") in a record of ``dtype``."""
    off = 0
    for name in path.split("."):
        assert dtype.fields is not None
        dtype, at = dtype.fields[name][:2]
        off += at
    return off


_RAW = raw_record_dtype()
_HEADERS = _offset(_RAW, "ev.headers")  # headers[] in a raw ring record


def _event_record(itemsize: int) -> np.dtype:
    dt = record_dtype()
    assert dt.itemsize == itemsize, "raw records exist only with the default snaplen"
    return dt


@lru_cache(maxsize=16)
def _outer_columns(itemsize: int, l3: bool, l4: int) -> Cols:
    """The frame's MACs (unless ``l3``: none) and the outer key of L4 class ``l4``
    (a VXLAN frame's is UDP's), the IP header at 0 (``l3``) or after the frame."""
    ev, h = _event_record(itemsize), _HEADERS
    put, cols = _putter(ev)
    if not l3:
        put("dst_mac", *range(h, h + 6))
        put("src_mac", *range(h + 6, h + 12))
    _key(put, "outer", h + (0 if l3 else ETH_LEN), l4)
    return cols()


@lru_cache(maxsize=16)
def _inner_columns(itemsize: int, l3: bool, l4: int) -> Cols:
    """A VXLAN frame's VNI, inner MACs and inner key of L4 class ``l4``."""
    ev = _event_record(itemsize)
    put, cols = _putter(ev)
    vx = _HEADERS + (0 if l3 else ETH_LEN) + VXLAN_AT
    put("vni", vx + 6, vx + 5, vx + 4)  # 24 bits, big-endian on the wire
    put("inner_dst_mac", *range(vx + 8, vx + 14))
    put("inner_src_mac", *range(vx + 14, vx + 20))
    _key(put, "inner", vx + 8 + ETH_LEN, l4)
    return cols()


def _putter(ev: np.dtype) -> tuple[Callable[..., None], Callable[[], Cols]]:
    """put(field, *raw bytes): the field's bytes, in order, come from those; cols(): the table."""
    dst: list[int] = []
    src: list[int] = []

    def put(field: str, *raw: int) -> None:
        at = _offset(ev, f"ev.{field}")
        dst.extend(range(at, at + len(raw)))
        src.extend(raw)

    def cols() -> Cols:
        return np.array(dst, dtype=np.intp), np.array(src, dtype=np.intp)

    return put, cols


def _key(put: Callable[..., None], key: str, ip: int, l4: int) -> None:
    """A plain IPv4 header at byte ``ip`` into ``key`` as brtrace.c's parse_ip
    fills a brt_key: addresses as they lie in memory, numbers in host order."""
    put(f"{key}.saddr", *range(ip + 12, ip + 16))
    put(f"{key}.daddr", *range(ip + 16, ip + 20))
    put(f"{key}.ip_id", ip + 5, ip + 4)
    put(f"{key}.ttl", ip + 8)
    put(f"{key}.proto", ip + 9)
    at = ip + IP_LEN
    if l4 == ICMP:
        put(f"{key}.icmp_type", at)
        put(f"{key}.icmp_code", at + 1)
        put(f"{key}.sport", at + 5, at + 4)  # echo id and sequence
        put(f"{key}.dport", at + 7, at + 6)
    elif l4 == PORTS:
        put(f"{key}.sport", at + 1, at)
        put(f"{key}.dport", at + 3, at + 2)
