"""A lazy batch as the few columns the correlator files by, in time order.

Why this exists: every field read from a record array is a strided pass over
~300-byte records, and the packet key alone used to take some twenty of them
per batch. Here a batch is read through an overlay dtype whose 8-byte words
each carry several fields (saddr+daddr; ip_id, ports and protocol; cpu+hook;
ethertype up to flags), and every event's packet key comes out as two 64-bit
words that compare and sort as integers. Python objects (key tuples) are made
once per distinct key, never per event.

The key words, per kind (``packet_key`` in journey.py is the reference)::

    hi = saddr | daddr << 32                     (arp, ip; else 0)
    lo = ip_id | sport << 16 | dport << 32 | proto << 48 | kind << 56
         (ip: all; icmp: icmp_type in place of ip_id, sport, dport;
          arp: sport only; no key: 0)

so ``lo == 0`` exactly when an event has no packet key.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Final

import numpy as np

from tracer.correlate.journey import PacketKey
from tracer.model import (
    ETH_P_ARP,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMPV6_ECHO,
    ICMPV6_ECHOREPLY,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
)
from tracer.schema.event import F_INNER, KEY_DTYPE, event_dtype

_U64 = np.uint64
_KIND_NONE, _KIND_ARP, _KIND_ICMP, _KIND_IP = 0, 1, 2, 3
# which bits of the two key words each kind keeps (indexed by kind)
_MASK_HI: Final = np.array([0, ~0, 0, ~0], dtype=np.int64).astype(_U64)
_MASK_LO: Final = np.array([0, 0xFFFF << 16, 0xFFFF_FFFF << 16, 0xFF_FFFF_FFFF_FFFF], dtype=_U64)
_KIND_BITS: Final = np.arange(4, dtype=_U64) << _U64(56)
_PROTO_BITS: Final = _U64(0xFF << 48)
_ICMP_BITS: Final = _U64(IPPROTO_ICMP << 48)
_ICMPV6_BITS: Final = _U64(IPPROTO_ICMPV6 << 48)
_ECHO_TYPE: Final = np.arange(256, dtype=np.uint8)  # an echo's type as journey.packet_key has it
_ECHO_TYPE[ICMPV6_ECHO], _ECHO_TYPE[ICMPV6_ECHOREPLY] = ICMP_ECHO, ICMP_ECHOREPLY
_INNER_BIT: Final = _U64(F_INNER << 56)
_PROTO_2: Final = _U64(2 << 48)  # protocols 0 (none, ARP) and 1 (ICMP) are below it
_LOW16, _LOW32 = _U64(0xFFFF), _U64(0xFFFF_FFFF)
_LOW16_32, _SHIFT16_32 = np.uint32(0xFFFF), np.uint32(16)


def _check_layout() -> None:
    """The overlay words assume the C struct's field order: fail at import, not silently."""
    k = KEY_DTYPE.fields
    e = event_dtype().fields
    if k is None or e is None:
        raise ImportError("tracer/schema/event.py: the event is no longer a structured dtype")
    offs = {name: k[name][1] for name in ("saddr", "daddr", "ip_id", "sport", "dport", "proto",
                                          "ttl", "icmp_type")}
    want = {"saddr": 0, "daddr": 4, "ip_id": 8, "sport": 10, "dport": 12, "proto": 14, "ttl": 15,
            "icmp_type": 16}
    if offs != want or e["hook"][1] != e["cpu"][1] + 2 or e["flags"][1] != e["ethertype"][1] + 7:
        raise ImportError("tracer/schema/event.py changed the event layout that correlate/columns.py reads")


_check_layout()
_OVERLAYS: dict[np.dtype, np.dtype] = {}


def _overlay(dt: np.dtype) -> np.dtype:
    """Words over the event struct (any snaplen), each loading several fields at once."""
    ov = _OVERLAYS.get(dt)
    if ov is None:
        f = dt.fields
        assert f is not None
        o, i = f["outer"][1], f["inner"][1]
        ov = _OVERLAYS[dt] = np.dtype({
            "names": ["ts", "skb", "cpu_hook", "eth_flags", "oa", "ob", "ot", "ia", "ib", "it"],
            "formats": ["<u8", "<u8", "<u4", "<u8", "<u8", "<u8", "u1", "<u8", "<u8", "u1"],
            "offsets": [f["ts_ns"][1], f["skb"][1], f["cpu"][1], f["ethertype"][1],
                        o, o + 8, o + 16, i, i + 8, i + 16],
            "itemsize": dt.itemsize})
    return ov


@dataclass(frozen=True, slots=True)
class Columns:
    """One batch's columns. Time-ordered arrays (stable by ``ts_ns``) unless named
    ``*_rec`` (record order); ``order[p]`` is the record index of position ``p``
    (None: the batch was in time order already)."""

    order: np.ndarray | None
    ts: np.ndarray
    skb: np.ndarray
    cpu: np.ndarray
    hook: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    key_dst_rec: np.ndarray  # the packet key's destination (inner when encapsulated)
    fib_dst_rec: np.ndarray  # the outer destination: what a route lookup looked up

    def records(self, pos: np.ndarray) -> np.ndarray:
        """Record indices of time-order positions."""
        return pos if self.order is None else self.order[pos]


def columns(arr: np.ndarray) -> Columns:
    """The columns of a ``brt_event`` array, each field read once."""
    v = arr.view(_overlay(arr.dtype))
    ts = np.array(v["ts"])
    order = None if bool((ts[1:] >= ts[:-1]).all()) else np.argsort(ts, kind="stable")
    hi, lo, key_dst, fib_dst = _key_words(v)
    if order is None:
        skb, cpu_hook = np.array(v["skb"]), np.array(v["cpu_hook"])
    else:
        ts, hi, lo = ts[order], hi[order], lo[order]
        skb, cpu_hook = v["skb"][order], v["cpu_hook"][order]
    cpu = (cpu_hook & _LOW16_32).astype(np.uint16)  # 16 bits: a stable sort of it is a radix sort
    return Columns(order, ts, skb, cpu, cpu_hook >> _SHIFT16_32, hi, lo, key_dst, fib_dst)


def _key_words(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hi, lo, key destination, outer destination) of every event, record order."""
    ef = np.array(v["eth_flags"])
    enc = (ef & _INNER_BIT) != 0
    oa = v["oa"]
    a = np.where(enc, v["ia"], oa)
    b = np.where(enc, v["ib"], v["ob"])
    proto = b & _PROTO_BITS
    dst = a >> _U64(32), oa >> _U64(32)
    # the usual batch: every key an IP one (a protocol above ICMP's 1 but not ICMPv6, no ARP)
    if (bool((proto >= _PROTO_2).all()) and not bool((proto == _ICMPV6_BITS).any())
            and bool((ef.view("<u2")[::4] != ETH_P_ARP).all())):
        return a, (b & _MASK_LO[_KIND_IP]) | _KIND_BITS[_KIND_IP], *dst
    t = _ECHO_TYPE[np.where(enc, v["it"], v["ot"])]
    present = (proto != 0) | ((a & _LOW32) != 0)
    arp = np.where(enc, proto == 0, (ef & _LOW16) == ETH_P_ARP)
    icmp = (((proto == _ICMP_BITS) | (proto == _ICMPV6_BITS)) & ((t == ICMP_ECHO) | (t == ICMP_ECHOREPLY)))
    kind = np.where(present, np.where(arp, _KIND_ARP, np.where(icmp, _KIND_ICMP, _KIND_IP)), _KIND_NONE)
    hi = a & _MASK_HI[kind]
    lo = (b & _MASK_LO[kind]) | _KIND_BITS[kind]
    echo = kind == _KIND_ICMP
    lo[echo] |= t[echo].astype(_U64)
    return hi, lo, *dst


def key_ids(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct keys by first occurrence: (key id of every event, the
    position where each key id first occurs, ascending).

    Consecutive events mostly share their key (one packet's hops), so only the
    heads of runs of equal keys are sorted.
    """
    n = len(hi)
    brk = np.empty(n, dtype=bool)
    brk[:1] = True
    np.not_equal(hi[1:], hi[:-1], out=brk[1:])
    brk[1:] |= lo[1:] != lo[:-1]
    heads = np.flatnonzero(brk)
    rh, rl = hi[heads], lo[heads]
    so = np.lexsort((rl, rh))  # stable: a key's runs stay in time order
    hs, ls = rh[so], rl[so]
    new = np.empty(len(so), dtype=bool)
    new[:1] = True
    new[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    first_run = so[new]  # each key's first run, keys in sorted-key order
    rank = np.empty(len(first_run), dtype=np.int64)
    by_time = np.argsort(first_run)
    rank[by_time] = np.arange(len(first_run))
    run_kid = np.empty(len(so), dtype=np.int64)
    run_kid[so] = rank[np.cumsum(new) - 1]
    return run_kid[np.cumsum(brk) - 1], heads[first_run[by_time]]


def key_tuples(hi: np.ndarray, lo: np.ndarray) -> list[PacketKey | None]:
    """The ``packet_key`` tuples of key words (None for no key)."""
    kind = lo >> _U64(56)
    saddr, daddr = (hi & _LOW32).tolist(), (hi >> _U64(32)).tolist()
    sport, dport = ((lo >> _U64(16)) & _LOW16).tolist(), ((lo >> _U64(32)) & _LOW16).tolist()
    proto, low = ((lo >> _U64(48)) & _U64(0xFF)).tolist(), (lo & _LOW16).tolist()
    if bool((kind == _KIND_IP).all()):  # the usual batch: tuples made in C
        return list(zip(repeat("ip"), proto, saddr, daddr, sport, dport, low))
    keys: list[PacketKey | None] = []
    for kd, p, s, d, sp, dp, lw in zip(kind.tolist(), proto, saddr, daddr, sport, dport, low, strict=True):
        if kd == _KIND_IP:
            keys.append(("ip", p, s, d, sp, dp, lw))
        elif kd == _KIND_ICMP:
            keys.append(("icmp", lw, sp, dp))
        elif kd == _KIND_ARP:
            keys.append(("arp", sp, s, d))
        else:
            keys.append(None)
    return keys


def prev_on_skb(skb: np.ndarray, matched: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every position, the latest earlier matched position on the same skb (-1:
    none); and each skb's latest matched position (skbs ascending, positions).

    One stable sort by skb; within an skb, a running maximum of matched
    positions, offset by a block number so that it cannot leak across skbs.
    """
    n = len(skb)
    perm = np.argsort(skb, kind="stable")
    sk = skb[perm]
    start = np.empty(n, dtype=bool)
    start[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=start[1:])
    base = np.cumsum(start) * (n + 1)  # per skb, above anything of the skbs before it
    acc = np.maximum.accumulate(base + np.where(matched[perm], perm + 1, 0)) - base
    before = np.empty(n, dtype=np.int64)  # matched position + 1 before each event, 0: none
    before[:1] = 0
    before[1:] = acc[:-1]
    before[start] = 0  # the first event on an skb has nothing before it
    prev = np.empty(n, dtype=np.int64)
    prev[perm] = before - 1
    end = np.empty(n, dtype=bool)
    end[:-1] = start[1:]
    end[-1:] = True
    last = acc[end] - 1
    has = last >= 0
    return prev, sk[end][has], last[has]


def last_by(values: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct value (ascending) with the last of ``pos`` where it occurs."""
    perm = np.argsort(values, kind="stable")
    v = values[perm]
    end = np.empty(len(v), dtype=bool)
    end[:-1] = v[1:] != v[:-1]
    end[-1:] = True
    return v[end], pos[perm[end]]
