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
could jump over a good one when the flipped bytes are in that length. Candidates are found by a regular expression over the kind byte, in C,
window by window, so scanning a damaged megabyte stays in the milliseconds.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Final

from tracer.record import format as fmt
from tracer.record import raw

# Kinds a resync may land on: a batch of either encoding or the trailer. A second
# header is never a resync target, and kinds of a newer brtrace are not guessed at.
RESYNC_KINDS: Final = (fmt.KIND_BATCH, raw.KIND_RAW, fmt.KIND_END)
_KIND_AT_8: Final = b"(?s)(?=.{8}[" + b"".join(RESYNC_KINDS) + b"])"  # re caches it compiled
WINDOW: Final = 1 << 20


def file_size(f: BinaryIO) -> int:
    """The stream's length; the position is restored by the callers' own seeks."""
    return f.seek(0, 2)


def record_at(f: BinaryIO, pos: int, size: int) -> bool:
    """Whether a whole record with a matching crc32 starts at ``pos``."""
    if pos + fmt.RECORD_HEAD.size > size:
        return False
    f.seek(pos)
    head = f.read(fmt.RECORD_HEAD.size)
    if len(head) < fmt.RECORD_HEAD.size:
        return False
    length, crc, kind = fmt.RECORD_HEAD.unpack(head)
    if kind not in RESYNC_KINDS or length > fmt.MAX_PAYLOAD:
        return False
    if pos + fmt.RECORD_HEAD.size + length > size:
        return False
    payload = f.read(length)
    return len(payload) == length and fmt.record_crc(kind, payload) == int(crc)


def next_record(f: BinaryIO, bad: int) -> int | None:
    """The offset of the first intact record after the bad one at ``bad``; None if none."""
    size = file_size(f)
    pos = bad + 1
    while pos + fmt.RECORD_HEAD.size <= size:
        f.seek(pos)
        window = f.read(WINDOW + fmt.RECORD_HEAD.size)
        for m in re.finditer(_KIND_AT_8, window):
            if m.start() >= WINDOW:
                break  # the next window starts there
            cand = pos + m.start()
            if record_at(f, cand, size):
                return cand
        pos += WINDOW
    return None
