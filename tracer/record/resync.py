"""Find the next intact record after a damaged one, so one bad record costs one record.

Every record head is ``length (u32) + crc32 (u32) + kind (1 byte)`` and the
crc32 covers the length, the kind and the payload (``format.record_crc``).
That is already a sync marker: a position whose kind byte is one a reader
knows, whose length fits the file and whose crc32 matches its bytes is a
record with a chance of about 2**-32 of being a false one. So no marker had
to be added to the format, old recordings and ``samples/*.brt`` resynchronise
too, and the schema version stays where it is.

The search scans byte by byte from just after the bad record's start, so it
lands on the *earliest* intact record: trusting the bad record's own length
could jump over a good one when the flipped bytes are in that length. Candidates
are found by a regular expression over the kind byte, in C,
window by window, so scanning a damaged megabyte stays in the milliseconds.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Final

from tracer.record import format as fmt
from tracer.record import raw

# Kinds a resync may land on: a batch of either encoding, the header's copy, the trailer.
# A second header is never a resync target, and kinds of a newer brtrace are not guessed at.
RESYNC_KINDS: Final = (fmt.KIND_BATCH, raw.KIND_RAW, fmt.KIND_HEADER_COPY, fmt.KIND_END)
_KIND: Final = b"[" + b"".join(RESYNC_KINDS) + b"]"  # re caches it compiled
_KIND_AT: Final = 8  # offset of the kind byte in a record head
WINDOW: Final = 1 << 20
# Every payload is msgpack: a batch (B) is an array of events, a raw batch (R), the
# header's copy (C) and the trailer (E) are maps. Checking that first byte before reading and checksumming a
# candidate's payload keeps a scan over random bytes from checksumming megabytes.
_ARRAYS: Final = frozenset(range(0x90, 0xA0)) | {0xDC, 0xDD}
_MAPS: Final = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_FIRST_BYTE: Final = {fmt.KIND_BATCH: _ARRAYS, raw.KIND_RAW: _MAPS, fmt.KIND_HEADER_COPY: _MAPS,
                      fmt.KIND_END: _MAPS}


def file_size(f: BinaryIO) -> int:
    """The stream's length; the position is restored by the callers' own seeks."""
    return f.seek(0, 2)


def record_at(f: BinaryIO, pos: int, size: int, head: bytes | None = None) -> bool:
    """Whether a whole record with a matching crc32 starts at ``pos``.

    ``head`` is the record head when the caller already holds those bytes:
    most candidates fail on their kind or length without any read.
    """
    if pos + fmt.RECORD_HEAD.size > size:
        return False
    if head is None:
        f.seek(pos)
        head = f.read(fmt.RECORD_HEAD.size)
    if len(head) < fmt.RECORD_HEAD.size:
        return False
    length, crc, kind = fmt.RECORD_HEAD.unpack(head)
    if kind not in RESYNC_KINDS or length > fmt.MAX_PAYLOAD:
        return False
    if pos + fmt.RECORD_HEAD.size + length > size:
        return False
    f.seek(pos + fmt.RECORD_HEAD.size)
    payload = f.read(length)
    return len(payload) == length and fmt.record_crc(kind, payload) == int(crc)


def next_record(f: BinaryIO, bad: int) -> int | None:
    """The offset of the first intact record after the bad one at ``bad``; None if none."""
    size = file_size(f)
    hs = fmt.RECORD_HEAD.size
    pos = bad + 1
    while pos + hs <= size:
        f.seek(pos)
        window = f.read(WINDOW + hs)
        for m in re.finditer(_KIND, window[_KIND_AT:]):
            off = m.start()  # the kind byte is at off + 8 of the window
            if off >= WINDOW:
                break  # the next window starts there
            length = int.from_bytes(window[off:off + 4], "little")
            if not 0 < length <= fmt.MAX_PAYLOAD or pos + off + hs + length > size:
                continue  # the common case, decided without a read
            first = window[off + hs] if off + hs < len(window) else None
            if first is not None and first not in _FIRST_BYTE[window[off + _KIND_AT:off + hs]]:
                continue
            if record_at(f, pos + off, size, window[off:off + hs]):
                return pos + off
        pos += WINDOW
    return None
