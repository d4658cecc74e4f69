"""The intact events of a raw batch record whose crc32 failed (schema 4).

Used only on a damaged record whose payload still decodes as msgpack: every
event whose stored sum (``rowsums.py``) matches is kept, and it must pass the
same checks as any stored event (known hook, capture length within snaplen).
Records written before schema 4 carry no sums and are not salvaged: without a
check per event, a flipped byte could not be told from data.
"""

from __future__ import annotations

import msgspec
import numpy as np

from tracer.record import raw
from tracer.record.rowsums import row_sums
from tracer.schema.decode import Decoder, EventBatch
from tracer.schema.event import LAYOUT, upgrade


def salvage_raw(payload: bytes) -> tuple[EventBatch, int] | None:
    """(the verified events, how many were stored) or None when nothing can be verified."""
    try:
        w = raw._DECODER.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not w.sums or w.snaplen % 8 or not 8 <= w.snaplen <= 1024 or w.layout > LAYOUT:
        return None
    dt = raw._event_dtype(w.snaplen, w.layout)
    if len(w.records) % dt.itemsize or len(w.sums) != len(w.records) // dt.itemsize * 8:
        return None
    arr = np.frombuffer(w.records, dtype=dt).copy()
    stored = np.frombuffer(w.sums, dtype="<u8")
    good = (row_sums(arr) == stored) & raw._KNOWN_HOOK.take(arr["hook"]) & (arr["hdr_len"] <= w.snaplen)
    syms = w.syms
    kept = arr[good] if w.layout == LAYOUT else upgrade(arr[good], w.snaplen)
    batch = Decoder(w.reasons, lambda a: syms.get(a, hex(a) if a else "")).decode(kept)
    return batch, len(arr)
