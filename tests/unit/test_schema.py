"""The schema against what it describes: the decoder, the Event, the recording
format (field types and value ranges), the hook table; no root."""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from tracer.model import Event, Hook, L4Key, Route
from tracer.record import format as fmt
from tracer.record.raw import decode_raw, encode_raw
from tracer.schema.decode import Decoder
from tracer.schema.event import (
    BRT_EVENT,
    BRT_KEY,
    EVENT_ONLY,
    F_FDB,
    F_INNER,
    F_MAC,
    F_ROUTE,
    KEY_FROM_EVENT,
    ROUTE_FROM_INNER,
    U8,
    CField,
    CStruct,
    CType,
    event_dtype,
)
from tracer.schema.hooks import Attach, Layer


def _near_end(ct: CType, which: int, i: int) -> int:
    """The i-th value from the low (0) or high (1) end of a C type's range: each
    field gets its own, so two swapped fields cannot pass as each other."""
    bits = 8 * ct.size
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if ct.signed else (0, (1 << bits) - 1)
    return hi - i if which else lo + i


MACS = [f.name for f in BRT_EVENT.fields if f.ctype is U8 and f.count == 6]


def _scalar_fields() -> list[tuple[str, CField]]:
    out = [("", f) for f in BRT_EVENT.fields if isinstance(f.ctype, CType) and not f.is_array]
    out += [(side, f) for side in ("outer", "inner") for f in BRT_KEY.fields if not f.is_array]
    return [(side, f) for side, f in out if f.event and f.name != "hook"]


def _attr(ev: Event, side: str, path: str) -> Any:
    obj: Any = getattr(ev, side) if side else ev
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _record(which: int) -> np.ndarray:
    """One record with every carried field near the low (0) or high (1) end of its C type."""
    arr = np.zeros(1, dtype=event_dtype())
    rec = arr[0]
    for i, (side, f) in enumerate(_scalar_fields()):
        assert isinstance(f.ctype, CType)
        (rec[side] if side else rec)[f.name] = _near_end(f.ctype, which, i)
    rec["hook"] = max(Hook)
    rec["flags"] = F_ROUTE | F_INNER | F_FDB | F_MAC
    rec["ifname"] = b"i" * 16  # the full width: no terminating NUL
    for i, name in enumerate(MACS):
        rec[name] = np.void(bytes([0xFF - i if which else i]) * 6)
    rec["headers"] = np.void(bytes(range(128)))
    rec["hdr_len"] = 128
    return arr


@pytest.mark.parametrize("which", [0, 1], ids=["low", "high"])
def test_every_field_keeps_its_whole_c_range_through_decoder_and_recordings(which: int) -> None:
    """Widths and signedness, end to end: record -> Event -> recording (B and R) -> Event."""
    arr = _record(which)
    (ev,) = Decoder().decode(arr)
    for i, (side, f) in enumerate(_scalar_fields()):
        assert isinstance(f.ctype, CType)
        assert _attr(ev, side, f.event) == _near_end(f.ctype, which, i), (side, f.name)
    assert ev.hook is max(Hook) and ev.ifname == "i" * 16 and ev.headers == bytes(range(128))
    for i, name in enumerate(MACS):
        assert getattr(ev, name) == ":".join([f"{0xFF - i if which else i:02x}"] * 6), name
    assert fmt.decode_batch(fmt.encode_batch([ev])) == [ev]
    assert list(decode_raw(encode_raw(arr, Decoder()))) == [ev]


def test_every_event_attribute_comes_from_the_schema() -> None:
    carried = {f.event.split(".")[0] for f in BRT_EVENT.fields if f.event}
    assert carried.isdisjoint(EVENT_ONLY)
    assert carried | set(EVENT_ONLY) == {f.name for f in fields(Event)}
    assert {f.event for f in BRT_KEY.fields if f.event} | set(KEY_FROM_EVENT) == {
        f.name for f in fields(L4Key)}
    routed = {f.event.split(".")[1] for f in BRT_EVENT.fields if f.event.startswith("route.")}
    assert routed.isdisjoint(ROUTE_FROM_INNER)
    assert routed | set(ROUTE_FROM_INNER) == {f.name for f in fields(Route)}


_WIRE_OF: dict[Any, Any] = {L4Key: fmt._WireKey, Route: fmt._WireRoute,
                            L4Key | None: fmt._WireKey | None, Route | None: fmt._WireRoute | None}


@pytest.mark.parametrize(("model", "wire"), [(Event, fmt._WireEvent), (L4Key, fmt._WireKey),
                                             (Route, fmt._WireRoute)], ids=lambda c: c.__name__)
def test_the_recordings_description_matches_the_event_types_included(model: type, wire: type) -> None:
    want = typing.get_type_hints(model)
    got = typing.get_type_hints(wire)
    assert list(got) == [f.name for f in fields(model)]  # order is the wire format
    assert {k: _WIRE_OF.get(t, t) for k, t in want.items()} == got


# Recordings store hook ids: an id never changes meaning (samples/*.brt hold these).
FROZEN_IDS = {"NET_DEV_QUEUE": 1, "NET_DEV_START_XMIT": 2, "NETIF_RECEIVE_SKB": 3, "NETIF_RX": 4,
              "FIB_TABLE_LOOKUP": 5, "KFREE_SKB": 6, "BR_FDB_UPDATE": 7, "BR_HANDLE_FRAME": 20,
              "VETH_XMIT": 21, "IP_FORWARD": 22, "BR_FORWARD": 23, "BR_PASS_FRAME_UP": 24,
              "VXLAN_XMIT": 25, "VXLAN_RCV": 26, "IP_RCV": 27, "IP_FINISH_OUTPUT2": 28}


def test_hook_ids_never_change_meaning() -> None:
    assert {h.name: h.value for h in Hook if h.name in FROZEN_IDS} == FROZEN_IDS
    assert all(0 < h < 256 for h in Hook)  # the decoder's id table has 256 slots


@pytest.mark.parametrize("hook", list(Hook), ids=lambda h: h.label)
def test_each_hook_row_is_consistent(hook: Hook) -> None:
    assert hook.label == hook.name.lower() and Hook(int(hook)) is hook
    if hook.attach is Attach.TRACEPOINT:
        cat, name = hook.target.split(":")
        assert cat and name == hook.function == hook.label
    else:
        assert ":" not in hook.target and hook.function == hook.target == hook.label
    assert isinstance(hook.layer, Layer)
    if hook.generic:  # an argument index the C macros can take (raw tp args, PARM1..4, ctx[])
        assert 0 <= hook.skb_arg <= 3 and -1 <= hook.dev_arg <= 3
        assert hook.dev_arg == -1 or hook.is_tracepoint


def test_cstruct_tables_name_each_field_once() -> None:
    for s in (BRT_EVENT, BRT_KEY):
        names = [f.name for f in s.fields]
        assert len(names) == len(set(names))
        events = [f.event for f in s.fields if f.event]
        assert len(events) == len(set(events))
    assert len(MACS) == 5 and all(isinstance(f.ctype, CStruct) for f in BRT_EVENT.fields
                                  if f.name in ("outer", "inner"))
