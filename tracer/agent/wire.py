"""The records on the wire: numpy arrays of ``struct brt_event`` in, proto batches out, and back.

A batch carries the bytes the kernel wrote (the event part of each ring
record), never one message per event, plus the drop-reason names and
location symbols those records need: the client may run another kernel.
Every batch states the event schema version; the client refuses another
with one clear error rather than misread the bytes. Untrusted bytes are
checked before use (record size, snaplen, hook ids, capture lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.model import Hook
from tracer.schema.decode import Decoder
from tracer.schema.event import record_dtype
from tracer.schema.recording import SCHEMA_VERSION

# The event struct's version: a recording and a stream of the same brtrace
# carry the same records, so one number (bumped with every struct change).
EVENT_SCHEMA_VERSION: Final = SCHEMA_VERSION
WIRE_VERSION: Final = 1
BATCH_RECORDS: Final = 32768  # ~9.7 MB at snaplen 128 (both ends allow MAX_MESSAGE)
MAX_MESSAGE: Final = 64 << 20
_KNOWN_HOOK: Final = np.zeros(1 << 16, dtype=bool)
_KNOWN_HOOK[[int(h) for h in Hook]] = True


class WireError(ValueError):
    """A batch this client cannot read (wrong schema, damaged records)."""


def ring_records(arr: np.ndarray) -> np.ndarray:
    """The ring records (8-byte header + event, as the kernel wrote them) behind an event array.

    A live batch's events are a view into the drained records: sending
    those bytes as they are costs one copy less than cutting the events out.
    """
    base = arr.base
    if isinstance(base, np.ndarray) and base.dtype.names == ("rb_len", "rb_pgoff", "ev") \
            and len(base) == len(arr) and base.dtype["ev"] == arr.dtype and base.flags.c_contiguous:
        return base
    recs = np.zeros(len(arr), dtype=record_dtype(int(arr.dtype["headers"].itemsize)))
    recs["rb_len"] = arr.dtype.itemsize
    recs["ev"] = arr
    return recs


def batch_messages(node: str, arr: np.ndarray, dec: Decoder, lost: int, sent: int,
                   read_to_ns: int) -> list[pb.TraceBatch]:
    """One polled array (events) as messages of at most BATCH_RECORDS ring records each."""
    snaplen = int(arr.dtype["headers"].itemsize)
    recs = ring_records(arr)
    out = []
    for lo in range(0, len(arr), BATCH_RECORDS):
        part = arr[lo:lo + BATCH_RECORDS]
        kfree = part["hook"] == int(Hook.KFREE_SKB)
        reasons = {int(r): dec.reason_name(int(r)) for r in np.unique(part["drop_reason"][kfree])}
        syms = {int(a): dec.symbol(int(a)) for a in np.unique(part["location"][kfree])}
        sent += len(part)
        out.append(pb.TraceBatch(schema_version=EVENT_SCHEMA_VERSION, node=node, snaplen=snaplen,
                                 records=recs[lo:lo + BATCH_RECORDS].tobytes(), reasons=reasons,
                                 syms=syms, lost=lost,
                                 events=sent, read_to_ns=read_to_ns))
    return out


@dataclass(frozen=True, slots=True)
class Records:
    """One received batch, checked: the records and the names they need."""

    arr: np.ndarray
    reasons: dict[int, str]
    syms: dict[int, str]
    lost: int
    read_to_ns: int


def check_schema(version: int, who: str) -> None:
    if version != EVENT_SCHEMA_VERSION:
        newer = "newer" if version > EVENT_SCHEMA_VERSION else "older"
        raise WireError(f"{who} sends event schema version {version}, this brtrace reads "
                        f"{EVENT_SCHEMA_VERSION} (the agent is {newer}): run the same brtrace "
                        "version on both ends")


def records_of(msg: pb.TraceBatch, who: str) -> Records:
    """The batch's records as an event array; raises WireError on anything unexpected."""
    check_schema(msg.schema_version, who)
    if msg.records and (msg.snaplen % 8 or not 8 <= msg.snaplen <= 1024):
        raise WireError(f"{who} sent a batch with a bad snaplen {msg.snaplen}")
    dt = record_dtype(msg.snaplen or 128)
    if len(msg.records) % dt.itemsize:
        raise WireError(f"{who} sent records that are not a whole number of events")
    recs = np.frombuffer(msg.records, dtype=dt)
    if len(recs) and (recs["rb_len"] != dt["ev"].itemsize).any():  # busy, discarded or not ours
        raise WireError(f"{who} sent ring records with a bad header")
    arr = recs["ev"]  # read-only: the merge aligns a copy of it
    if len(arr) and not _KNOWN_HOOK.take(arr["hook"]).all():
        raise WireError(f"{who} sent an unknown hook id")
    if (arr["hdr_len"] > (msg.snaplen or 128)).any():
        raise WireError(f"{who} sent a capture length beyond its snaplen")
    return Records(arr, dict(msg.reasons), dict(msg.syms), int(msg.lost), int(msg.read_to_ns))
