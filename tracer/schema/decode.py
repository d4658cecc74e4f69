"""Batches of ``brt_event`` records decoded into Events, lazily.

The probes' ring buffer and a recording's raw batches both hand over arrays of
the event dtype (``tracer/schema/event.py``); this turns them into
:class:`~tracer.model.Event` objects only when something asks for one. The
correlator files events by packet from the columns, without building them.
No bcc here, so the decoder is tested and benchmarked on synthetic bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, cast, overload

import numpy as np

from tracer.model import Event, Hook, L4Key, Route, mac
from tracer.names.devname import dev_name
from tracer.schema.event import F_FDB, F_GW6, F_INNER, F_INNER_V6, F_L3, F_MAC, F_ROUTE, F_V6

_HOOKS: list[Hook | None] = [None] * 256
for _h in Hook:
    _HOOKS[_h.value] = _h


def _key(row: tuple[int, ...], a6: bytes = b"", b6: bytes = b"") -> L4Key:
    return L4Key(row[0], row[1], row[5], row[2], row[6], row[3], row[4], row[7], row[8], a6, b6)


# The inner key's first 16 bytes as its fields read them (saddr, daddr, ip_id, sport,
# dport, proto, ttl; little-endian like the dtype): a route event's IPv6 gateway (F_GW6).
_GW6: Final = struct.Struct("<IIHHHBB")


def _route(row: tuple[int, int, int, int, int, int], flags: int, inner: tuple[int, ...]) -> Route:
    """A route event's Route; its IPv6 gateway from where the probe put it (F_GW6)."""
    gw6 = _GW6.pack(*inner[:7]) if flags & F_GW6 else b""
    return Route(*row, gw6)


class Decoder:
    """Turns arrays of ``brt_event`` into Events; resolves reason names and symbols.

    ``decode`` is lazy: it returns an :class:`EventBatch` that keeps the numpy
    records and builds each frozen Event the first time it is asked for (the
    correlator files events by packet from the columns, without building
    them). Strings and keys repeated across events (device names, MACs, one
    packet's key at every hop) are built once and shared.
    """

    def __init__(self, drop_reasons: dict[int, str] | None = None,
                 symbolize: Callable[[int], str] | None = None) -> None:
        self._reasons = drop_reasons or {}
        self._symbolize = symbolize or (lambda a: hex(a) if a else "")
        self._strs: dict[bytes, str] = {}
        self._macs: dict[bytes, str] = {}
        self._keys: dict[tuple[object, ...], L4Key] = {}

    def reason_name(self, code: int) -> str:
        return self._reasons.get(code, str(code))

    def symbol(self, addr: int) -> str:
        return self._symbolize(addr)

    def decode(self, arr: np.ndarray) -> EventBatch:
        return EventBatch(self, arr)

    def decode_all(self, arr: np.ndarray) -> list[Event]:
        """Every event built now (a plain list)."""
        return list(EventBatch(self, arr))

    def _str(self, raw: bytes) -> str:
        s = self._strs.get(raw)
        if s is None:
            if len(self._strs) > 4096:
                self._strs.clear()
            s = self._strs[raw] = dev_name(raw)
        return s

    def _mac(self, raw: bytes) -> str:
        s = self._macs.get(raw)
        if s is None:
            if len(self._macs) > 4096:
                self._macs.clear()
            s = self._macs[raw] = mac(raw)
        return s

    def _l4(self, row: tuple[int, ...], a6: bytes = b"", b6: bytes = b"") -> L4Key:
        ck: tuple[object, ...] = (*row, a6, b6) if a6 else row  # IPv6: the addresses too
        k = self._keys.get(ck)
        if k is None:
            if len(self._keys) > 4096:
                self._keys.clear()
            k = self._keys[ck] = _key(row, a6, b6)
        return k

    def build(self, rec: np.void) -> Event:
        """One Event from one ``brt_event`` record."""
        (ts_ns, skb, loc, netns, ifindex, length, reason, vni, fib_table, fib_err, fib_oif,
         fib_iif, fib_nh, fib_gw, cpu, hook_v, ethertype, vlan, fdb_vlan, pkt_type, flags, ifname,
         src_mac, dst_mac, in_src, in_dst, fdb_mac, sa6, da6, hdr_len, outer, inner,
         headers) = _row(rec)
        hook = _HOOKS[hook_v] if hook_v < 256 else None
        if hook is None:
            hook = Hook(hook_v)  # raises: an id this brtrace does not know
        has_mac = flags & F_MAC
        in6, out6 = bool(flags & F_INNER_V6), bool(flags & F_V6) and not flags & F_INNER_V6
        inner_key = (self._l4(inner, *((sa6, da6) if in6 else ())) if flags & F_INNER else None)
        drop = hook is Hook.KFREE_SKB
        return Event(
            ts_ns, cpu, hook, skb, netns, ifindex, self._str(ifname), length,
            self._mac(src_mac) if has_mac else "",
            self._mac(dst_mac) if has_mac else "",
            ethertype, vlan, self._l4(outer, *((sa6, da6) if out6 else ())), vni, inner_key,
            self._mac(in_src) if inner_key else "",
            self._mac(in_dst) if inner_key else "",
            reason, loc,
            self._reasons.get(reason, str(reason)) if drop else "",
            self._symbolize(loc) if drop else "",
            _route((fib_table, fib_err, fib_oif, fib_iif, fib_nh, fib_gw), flags, inner)
            if flags & F_ROUTE else None,
            self._mac(fdb_mac) if flags & F_FDB else "",
            fdb_vlan, pkt_type, headers[:hdr_len], bool(flags & F_L3),
        )


def _row(rec: np.void) -> tuple[Any, ...]:
    return cast("tuple[Any, ...]", rec.item())


class EventBatch(Sequence[Event]):
    """A polled batch: the numpy records, each built into its Event on first access.

    Behaves as a read-only sequence of Events (``len``, indexing, slicing,
    iteration); ``list(batch)`` builds them all. ``arr`` is the record array
    for vectorised consumers such as the correlator.
    """

    __slots__ = ("_built", "_dec", "arr")

    def __init__(self, decoder: Decoder, arr: np.ndarray) -> None:
        self.arr = arr
        self._dec = decoder
        self._built: list[Event | None] = [None] * len(arr)

    @property
    def decoder(self) -> Decoder:
        """The decoder that names this batch's drop reasons and locations (for recordings)."""
        return self._dec

    def __len__(self) -> int:
        return len(self._built)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...

    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._built)))]
        ev = self._built[i]
        if ev is None:
            ev = self._built[i] = self._dec.build(self.arr[i])
        return ev

    def __iter__(self) -> Iterator[Event]:
        built, build, arr = self._built, self._dec.build, self.arr
        for i in range(len(built)):
            ev = built[i]
            if ev is None:
                ev = built[i] = build(arr[i])
            yield ev

    def __bool__(self) -> bool:
        return bool(self._built)
