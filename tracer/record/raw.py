"""Raw kernel batches in a recording: record kind ``R`` (schema_version 2).

A live batch is an array of the probe's fixed-size ``brt_event`` records
(``tracer/schema/event.py``). Stored as those bytes, plus the drop-reason names and
location symbols it needs, a batch loads with one ``np.frombuffer`` and
replays through the same lazy :class:`~tracer.schema.decode.EventBatch` as live
tracing: Events are built only when a view asks for one, and the correlator
files whole batches from the columns. That is what makes a million-event
recording load in well under the 3 s a user will wait.

Untrusted bytes are checked before use: record size, snaplen, hook ids and
capture lengths; nothing is evaluated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import msgspec
import numpy as np

from tracer.model import Hook
from tracer.record.rowsums import row_sums
from tracer.schema.decode import Decoder, EventBatch
from tracer.schema.event import LAYOUT, event_dtype, legacy_event_dtype, upgrade
from tracer.schema.recording import KIND_RAW as KIND_RAW

_KNOWN_HOOK: Final = np.zeros(1 << 16, dtype=bool)  # by hook id: one lookup per event
_KNOWN_HOOK[[int(h) for h in Hook]] = True
_ENCODER: Final = msgspec.msgpack.Encoder()


class _WireRaw(msgspec.Struct):
    snaplen: int
    records: memoryview  # into the payload, not a copy: the batch's array keeps it alive
    reasons: dict[int, str]
    syms: dict[int, str]
    sums: bytes = b""  # schema 4: one row_sums() uint64 per record, for salvage (rowsums.py)
    layout: int = 4  # schema 5: the struct's layout (tracer/schema/event.py LAYOUT); absent: 4


_DECODER: Final = msgspec.msgpack.Decoder(_WireRaw)


class RawFormatError(ValueError):
    """A raw batch whose checksum is fine but whose content is not what we wrote."""


def is_raw(events: object) -> bool:
    return isinstance(events, EventBatch)


def encode_raw(arr: np.ndarray, dec: Decoder) -> bytes:
    """The records' bytes and the names their drop events need."""
    kfree = arr["hook"] == int(Hook.KFREE_SKB)
    reasons = {int(r): dec.reason_name(int(r)) for r in np.unique(arr["drop_reason"][kfree])}
    syms = {int(a): dec.symbol(int(a)) for a in np.unique(arr["location"][kfree])}
    snaplen = int(arr.dtype["headers"].itemsize)
    return _ENCODER.encode({"snaplen": snaplen, "records": np.ascontiguousarray(arr).tobytes(),
                            "reasons": reasons, "syms": syms, "sums": row_sums(arr).tobytes(),
                            "layout": LAYOUT})


def decode_raw(payload: bytes) -> EventBatch:
    """A lazy batch over the stored records; raises RawFormatError on bad content."""
    try:
        w = _DECODER.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RawFormatError(str(exc)) from None
    if w.snaplen % 8 or not 8 <= w.snaplen <= 1024:
        raise RawFormatError(f"bad snaplen {w.snaplen}")
    if w.layout > LAYOUT:
        raise RawFormatError(f"event layout {w.layout} is newer than this brtrace's {LAYOUT}")
    dt = _event_dtype(w.snaplen, w.layout)
    if len(w.records) % dt.itemsize:
        raise RawFormatError("records are not a whole number of events")
    arr = np.frombuffer(w.records, dtype=dt)
    if w.layout < LAYOUT:  # recorded before IPv6: today's struct, the new fields zero
        arr = upgrade(arr, w.snaplen)
    elif arr.ctypes.data % 8:  # where msgpack put the bytes: copy to align
        arr = arr.copy()
    if not _KNOWN_HOOK.take(arr["hook"]).all():
        raise RawFormatError("unknown hook id in a raw batch")
    if (arr["hdr_len"] > w.snaplen).any():
        raise RawFormatError("capture length beyond snaplen")
    syms = w.syms
    return Decoder(w.reasons, lambda a: syms.get(a, hex(a) if a else "")).decode(arr)


@lru_cache(maxsize=16)
def _event_dtype(snaplen: int, layout: int = LAYOUT) -> np.dtype:
    """One dtype object per snaplen and layout, so every batch of a recording shares it."""
    return event_dtype(snaplen) if layout == LAYOUT else legacy_event_dtype(layout, snaplen)
