"""``struct brt_event`` as a numpy dtype, and batch decoding into Events.

Why numpy: one event struct of fixed size means a ring-buffer batch is an
array of identical records, so the header checks and field extraction are
vectorised and Python touches each event once, to build its frozen dataclass.
No bcc here, so the decoder is tested and benchmarked on synthetic bytes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tracer.model import Event, Hook, L4Key, Route, mac

F_L3, F_INNER, F_ROUTE, F_FDB, F_MAC = 1, 2, 4, 8, 16
DEFAULT_SNAPLEN = 128

KEY_DTYPE = np.dtype([
    ("saddr", "<u4"), ("daddr", "<u4"), ("ip_id", "<u2"), ("sport", "<u2"), ("dport", "<u2"),
    ("proto", "u1"), ("ttl", "u1"), ("icmp_type", "u1"), ("icmp_code", "u1"), ("pad", "<u2"),
])


def event_dtype(snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """The C struct, field for field (probes/brtrace.h)."""
    return np.dtype([
        ("ts_ns", "<u8"), ("skb", "<u8"), ("location", "<u8"),
        ("netns", "<u4"), ("ifindex", "<u4"), ("len", "<u4"), ("drop_reason", "<u4"),
        ("vni", "<u4"), ("fib_table", "<u4"), ("fib_err", "<i4"), ("fib_oif", "<u4"),
        ("fib_iif", "<u4"), ("fib_nh_ifindex", "<u4"), ("fib_gw", "<u4"),
        ("cpu", "<u2"), ("hook", "<u2"), ("ethertype", "<u2"), ("vlan", "<u2"), ("fdb_vlan", "<u2"),
        ("pkt_type", "u1"), ("flags", "u1"), ("ifname", "S16"),
        ("src_mac", "V6"), ("dst_mac", "V6"), ("inner_src_mac", "V6"), ("inner_dst_mac", "V6"),
        ("fdb_mac", "V6"), ("hdr_len", "<u2"),
        ("outer", KEY_DTYPE), ("inner", KEY_DTYPE), ("headers", "V%d" % snaplen),
    ], align=False)


def record_dtype(snaplen: int = DEFAULT_SNAPLEN) -> np.dtype:
    """A ring-buffer record: 8-byte header (len | busy/discard bits, page offset),
    the event, padded to 8 bytes as the kernel's ring buffer does."""
    ev = event_dtype(snaplen)
    size = (8 + ev.itemsize + 7) & ~7
    return np.dtype({"names": ["rb_len", "rb_pgoff", "ev"],
                     "formats": ["<u4", "<u4", ev], "offsets": [0, 4, 8], "itemsize": size})


def _key(row: tuple[int, ...]) -> L4Key:
    return L4Key(row[0], row[1], row[5], row[2], row[6], row[3], row[4], row[7], row[8])


class Decoder:
    """Turns arrays of ``brt_event`` into Events; resolves reason names and symbols."""

    def __init__(self, drop_reasons: dict[int, str] | None = None,
                 symbolize: Callable[[int], str] | None = None) -> None:
        self._reasons = drop_reasons or {}
        self._symbolize = symbolize or (lambda a: hex(a) if a else "")

    def decode(self, arr: np.ndarray) -> list[Event]:
        cols = {name: arr[name].tolist() for name in arr.dtype.names or ()}
        return [self._one(cols, i) for i in range(len(arr))]

    def _one(self, c: dict[str, list], i: int) -> Event:  # type: ignore[type-arg]
        flags = c["flags"][i]
        hook = Hook(c["hook"][i])
        hdr = c["headers"][i][: c["hdr_len"][i]]
        route = None
        if flags & F_ROUTE:
            route = Route(c["fib_table"][i], c["fib_err"][i], c["fib_oif"][i], c["fib_iif"][i],
                          c["fib_nh_ifindex"][i], c["fib_gw"][i])
        has_mac = flags & F_MAC
        inner = _key(c["inner"][i]) if flags & F_INNER else None
        reason = c["drop_reason"][i]
        loc = c["location"][i]
        return Event(
            ts_ns=c["ts_ns"][i], cpu=c["cpu"][i], hook=hook, skb=c["skb"][i],
            netns=c["netns"][i], ifindex=c["ifindex"][i],
            ifname=c["ifname"][i].decode("utf-8", "replace"), length=c["len"][i],
            src_mac=mac(c["src_mac"][i]) if has_mac else "",
            dst_mac=mac(c["dst_mac"][i]) if has_mac else "",
            ethertype=c["ethertype"][i], vlan=c["vlan"][i], outer=_key(c["outer"][i]),
            vni=c["vni"][i], inner=inner,
            inner_src_mac=mac(c["inner_src_mac"][i]) if inner else "",
            inner_dst_mac=mac(c["inner_dst_mac"][i]) if inner else "",
            drop_reason=reason, location=loc,
            reason_name=self._reasons.get(reason, str(reason)) if hook == Hook.KFREE_SKB else "",
            location_sym=self._symbolize(loc) if hook == Hook.KFREE_SKB else "",
            route=route,
            fdb_mac=mac(c["fdb_mac"][i]) if flags & F_FDB else "",
            fdb_vlan=c["fdb_vlan"][i], pkt_type=c["pkt_type"][i],
            headers=bytes(hdr), headers_l3=bool(flags & F_L3),
        )
