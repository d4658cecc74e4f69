"""Property tests: any damage to a recording gives events or one BrtraceError line.

About 12k hypothesis cases (truncation runs out of distinct offsets near
4k: it then has tried every one) plus an exhaustive loop over every cut:
truncation at any offset, byte replacements
anywhere, and arbitrary bytes. For each, the reader must either raise
BrtraceError with a one-line message (damage inside the preamble/header) or
return exactly the events of the records the damage did not touch (the reader
resynchronises on the next intact record), with a note.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_record import event, info, record_offsets
from tracer.errors import BrtraceError
from tracer.model import Event
from tracer.record import MAGIC, RecordWriter, ReplaySource, open_recording
from tracer.record import format as fmt

FAST = settings(max_examples=5000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
DAMAGE = re.compile(r"(truncated last record|corrupted record|undecodable batch|"
                    r"bad trailer record|unexpected second header) .*: kept \d+ events"
                    r"(, lost \d+ of \d+ recorded)?")

BATCHES = [[event(i) for i in range(a, b)] for a, b in ((0, 3), (3, 9), (9, 10), (10, 17))]
ALL = [e for b in BATCHES for e in b]


def _build() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.brt"
        with RecordWriter(path, info(), created=5.0) as w:
            for b in BATCHES:
                w.write_batch(b)
        return path.read_bytes()


DATA = _build()
OFFS = record_offsets(DATA)  # header, header copy, 4 batches, trailer, end of file
HEADER_END = OFFS[1]
COPY = range(OFFS[1], OFFS[2])
TRAILER = range(OFFS[6], OFFS[7])
assert len(OFFS) == 8 and OFFS[-1] == len(DATA)


def kept_untouched(changed: set[int]) -> list[Event]:
    """Events of the batch records none of whose bytes changed: the reader resynchronises."""
    return [e for b, lo, hi in zip(BATCHES, OFFS[2:6], OFFS[3:7], strict=True)
            if not any(lo <= p < hi for p in changed) for e in b]


def kept_before(pos: int) -> list[Event]:
    """Events of the batch records that end at or before ``pos``."""
    n = sum(len(b) for b, end in zip(BATCHES, OFFS[3:7], strict=True) if end <= pos)
    return ALL[:n]


def touched(changed: set[int], span: range) -> bool:
    return any(p in span for p in changed)


def read(data: bytes) -> tuple[list[Event], str | None, bool] | BrtraceError:
    try:
        with open_recording(io.BytesIO(data)) as rec:
            return rec.events(), rec.damage, rec.complete
    except BrtraceError as exc:
        return exc


def assert_clear(exc: BrtraceError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 300, msg
    assert msg.startswith(("<stream>: ", "<bytes>: ")), msg


@FAST
@given(cut=st.one_of(st.integers(0, len(DATA)), st.sampled_from(OFFS),
                     st.sampled_from(OFFS).map(lambda o: max(0, o - 1))))
def test_truncated_anywhere(cut: int) -> None:
    got = read(DATA[:cut])
    if cut < HEADER_END:
        assert isinstance(got, BrtraceError)
        assert_clear(got)
        return
    assert not isinstance(got, BrtraceError), got
    events, damage, complete = got
    assert events == kept_before(cut)
    if cut in OFFS:
        assert damage is None
        assert complete == (cut == len(DATA))
    else:
        assert damage is not None and DAMAGE.fullmatch(damage), damage
        assert damage.endswith(f": kept {len(events)} events")
        assert not complete


def test_truncated_at_every_offset() -> None:
    """The file is small enough to try every cut; hypothesis may stop early."""
    for cut in range(len(DATA) + 1):
        got = read(DATA[:cut])
        if cut < HEADER_END:
            assert isinstance(got, BrtraceError)
        else:
            assert not isinstance(got, BrtraceError) and got[0] == kept_before(cut)


def _another_readable_version(data: bytearray, changes: dict[int, int]) -> bool:
    """Changes only to the preamble's schema_version, naming another version this
    brtrace reads: not damage (found by hypothesis: byte 8 ^ 3 turns 2 into 1,
    and these batches are valid schema_version 1)."""
    lo, hi = len(MAGIC), len(MAGIC) + 4
    version = int.from_bytes(data[lo:hi], "little")
    return all(lo <= p < hi for p in changes) and version in fmt.READABLE_VERSIONS


@FAST
@given(changes=st.dictionaries(st.integers(0, len(DATA) - 1), st.integers(1, 255),
                               min_size=1, max_size=6))
def test_corrupted_anywhere(changes: dict[int, int]) -> None:
    data = bytearray(DATA)
    for pos, x in changes.items():
        data[pos] ^= x  # x != 0 and positions are distinct: every chosen byte changes
    first = min(changes)
    got = read(bytes(data))
    if _another_readable_version(data, changes):
        assert got == (ALL, None, True), "an older version of the same bytes is a valid file"
        return
    version = int.from_bytes(data[len(MAGIC):fmt.PREAMBLE.size], "little")
    if bytes(data[:len(MAGIC)]) != MAGIC or version not in fmt.READABLE_VERSIONS:
        assert isinstance(got, BrtraceError), "a preamble this brtrace cannot read is refused"
        assert_clear(got)
        return
    changed = {p for p in changes if p >= fmt.PREAMBLE.size}  # another readable version: no damage
    first = min(changed)
    later = [COPY, TRAILER, *(range(a, b) for a, b in zip(OFFS[2:6], OFFS[3:7], strict=True))]
    if first < HEADER_END and all(touched(changed, r) for r in later):
        assert isinstance(got, BrtraceError), "a damaged header with nothing intact after it"
        assert_clear(got)
        return
    assert not isinstance(got, BrtraceError), got
    events, damage, complete = got
    assert events == kept_untouched(changed), "every record without a changed byte is kept"
    assert damage is not None and DAMAGE.fullmatch(damage), damage
    assert complete == (not touched(changed, TRAILER)), "an intact trailer is read"
    if first < HEADER_END and not touched(changed, COPY):
        assert "the header: restored from its copy" in damage


@settings(max_examples=2000, deadline=None, database=None)
@given(tail=st.binary(max_size=300), prefix=st.sampled_from(
    [b"", MAGIC, fmt.preamble(), DATA[:HEADER_END], DATA[:OFFS[2]]]))
def test_arbitrary_bytes_never_traceback(prefix: bytes, tail: bytes) -> None:
    got = read(prefix + tail)
    if isinstance(got, BrtraceError):
        assert_clear(got)
    else:
        events, damage, _ = got
        assert events == ALL[:len(events)]
        assert damage is None or DAMAGE.fullmatch(damage), damage


@settings(max_examples=300, deadline=None, database=None)
@given(cut=st.integers(HEADER_END, len(DATA)))
def test_replay_source_on_truncated_files(cut: int) -> None:
    src = ReplaySource(DATA[:cut], max_batch=5)
    got: list[Event] = []
    while not src.exhausted:
        got.extend(src.poll(0))
    assert got == kept_before(cut)
    assert (src.damage is None) == (cut in OFFS)
    src.close()
