"""Read recordings back, keeping everything before any damage (replay: ``replay.py``).

Any byte string given to this module ends in one of three ways: events, events
plus a ``damage`` note, or a one-line :class:`BrtraceError`. A bad record is
skipped, not the rest of the file: the reader resynchronises on the next
record whose head and crc32 check out (``resync.py``), because a bug report's
trace with eight flipped bytes in the middle still holds every other record
intact. Inside a damaged raw batch (schema 4) the events whose own sums still
match are kept (``salvage.py``); a damaged header is restored from its copy.
What was skipped is counted (spans, bytes, and events when the trailer says
how many were written), so no view can present a damaged trace as whole.
Content is only ever decoded by msgspec into typed values: no pickle, no eval.
"""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import BinaryIO, Self

from tracer.errors import BrtraceError
from tracer.model import Event, SourceStats
from tracer.record import format as fmt
from tracer.record import raw, resync, salvage
from tracer.record.damage import DamageReport, Span
from tracer.source import SourceInfo
from tracer.topology.model import Topology

_PCAP_MAGICS = (b"\x0a\x0d\x0d\x0a", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


class _Damage(Exception):
    """The record at ``offset`` is unusable; ``what`` says why.

    ``after`` is where the next record starts when this one's framing was
    sound (its checksum passed but its content did not); None when the
    framing itself is suspect and the next record must be searched for.
    """

    def __init__(self, offset: int, what: str, after: int | None = None,
                 kind: bytes = b"", payload: bytes = b"") -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what
        self.after = after
        self.kind, self.payload = kind, payload  # a whole record whose checksum failed


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _read_record(f: BinaryIO, offset: int) -> tuple[bytes, bytes, int] | None:
    """(kind, payload, next offset) of the record at ``offset``; None at a clean end."""
    f.seek(offset)
    head = f.read(fmt.RECORD_HEAD.size)
    if not head:
        return None
    if len(head) < fmt.RECORD_HEAD.size:
        raise _Damage(offset, f"truncated last record at byte {offset}")
    length, crc, kind = fmt.RECORD_HEAD.unpack(head)
    if length > fmt.MAX_PAYLOAD:
        raise _Damage(offset, f"corrupted record at byte {offset} (impossible length {length})")
    payload = f.read(length)
    if len(payload) < length:
        raise _Damage(offset, f"truncated last record at byte {offset} "
                              f"({len(payload)} of {length} bytes)")
    if fmt.record_crc(kind, payload) != crc:
        raise _Damage(offset, f"corrupted record at byte {offset} (checksum mismatch)",
                      kind=kind, payload=payload)
    return kind, payload, offset + fmt.RECORD_HEAD.size + length


class Recording:
    """An open recording: its header facts now, its batches on iteration.

    ``damage``, ``complete`` and ``end_stats`` describe the tail and are known
    once the batches have been read to the end.
    """

    def __init__(self, f: BinaryIO, name: str, owns_file: bool = True) -> None:
        self.name = name
        self._f = f
        self._owns = owns_file
        self.damage: str | None = None
        self.report = DamageReport()
        self._header_damage: list[Span] = []
        self._header_note = ""
        self.complete = False
        self.end_stats: SourceStats | None = None
        try:
            self.schema_version = self._read_preamble()
            self.info, self.created, self._start = self._read_header()
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str) -> BrtraceError:
        return BrtraceError(_one_line(f"{self.name}: {what}"))

    def _read_preamble(self) -> int:
        raw = self._f.read(fmt.PREAMBLE.size)
        if not raw:
            return self._bad("is empty, not a brtrace recording")
        if raw[:4] in _PCAP_MAGICS:
            return self._bad("is a pcap/pcapng capture, not a brtrace recording")
        if not (raw.startswith(fmt.MAGIC) or fmt.MAGIC.startswith(raw)):
            return self._bad("is not a brtrace recording (bad magic bytes)")
        if len(raw) < fmt.PREAMBLE.size:
            return self._bad("is truncated before its header")
        _, version = fmt.PREAMBLE.unpack(raw)
        if version not in fmt.READABLE_VERSIONS:
            hint = " (made by a newer brtrace?)" if version > fmt.SCHEMA_VERSION else ""
            return self._bad(f"has recording schema_version {version}; this brtrace "
                             f"reads schema_version {', '.join(map(str, fmt.READABLE_VERSIONS))}{hint}")
        return int(version)

    def _bad(self, what: str) -> int:
        raise self._fail(what)

    def _read_header(self) -> tuple[SourceInfo, float, int]:
        try:
            rec = _read_record(self._f, fmt.PREAMBLE.size)
        except _Damage as d:
            return self._salvage_header(d)
        except OSError as exc:
            raise self._fail(f"cannot read: {exc.strerror}") from None
        if rec is None:
            raise self._fail("is truncated before its header")
        kind, payload, nxt = rec
        if kind != fmt.KIND_HEADER:
            raise self._fail("first record is not a header; not a brtrace recording")
        try:
            info, created = fmt.decode_header(payload)
        except fmt.FormatError as exc:
            raise self._fail(f"bad header record: {exc}") from None
        return info, created, nxt

    def _salvage_header(self, d: _Damage) -> tuple[SourceInfo, float, int]:
        """A damaged header: the events after it still tell the story, so read on.

        Only flipped bytes are salvaged (a checksum mismatch or an impossible
        length) and only when an intact record follows; a file cut inside its
        header, or garbage after a preamble, is still refused in one line. The
        topology snapshot is used if it still decodes, flagged as unverified,
        else replaced by an empty one (namespaces are then shown by inode).
        """
        try:
            nxt = resync.next_record(self._f, d.offset)
        except OSError:
            nxt = None
        if nxt is None:  # also a file cut inside its header: nothing follows it
            raise self._fail(f"header record is damaged: {d.what}")
        info, created, note = _guess_header(self._f, d.offset, nxt)
        self._header_damage = [Span(d.offset, f"{_not_the_end(d)}, the header: {note}", nxt,
                                    nxt - d.offset)]
        self._header_note = note
        self.report = DamageReport(list(self._header_damage), header=note)
        self.damage = _one_line(self.report.text(), 300)
        return info, created, nxt

    def batches(self) -> Generator[Sequence[Event], None, None]:
        """Each intact stored batch in order; a bad record is noted and skipped."""
        self.damage, self.complete, self.end_stats = None, False, None
        self.report = DamageReport(list(self._header_damage), header=self._header_note)
        offset: int | None = self._start
        while offset is not None:
            start = offset
            try:
                rec = self._next_record(offset)
                if rec is None:
                    return
                kind, payload, offset = rec
                if kind == fmt.KIND_END:
                    self.end_stats, self.complete = _decode_end(payload, start, offset), True
                    return
                if kind in (fmt.KIND_BATCH, raw.KIND_RAW):
                    batch = (_decode_raw(payload, start, offset) if kind == raw.KIND_RAW
                             else _decode_batch(payload, start, offset))
                    self.report.kept += len(batch)
                    yield batch
                elif kind == fmt.KIND_HEADER:
                    raise _Damage(start, f"unexpected second header at byte {start}", offset)
                # other kinds: the header's copy (read only when the header is damaged),
                # or written by a newer brtrace: skipped on purpose
            except _Damage as d:
                saved = _salvage(d)
                offset = self._resync(d)
                if saved:
                    self.report.kept += len(saved)
                    yield saved
            finally:
                if self.report.spans:
                    self.damage = _one_line(self.report.text(self.end_stats), 300)

    def _resync(self, d: _Damage) -> int | None:
        """Where reading goes on after damage ``d``: its successor, or the next intact record."""
        if d.after is not None:
            nxt: int | None = d.after
        else:
            try:
                nxt = resync.next_record(self._f, d.offset)
            except OSError:
                nxt = None
        self.report.add(d.offset, _not_the_end(d) if nxt is not None else d.what, nxt,
                        _size(self._f))
        return nxt

    def _next_record(self, offset: int) -> tuple[bytes, bytes, int] | None:
        try:
            return _read_record(self._f, offset)
        except OSError as exc:
            raise _Damage(offset, f"read error at byte {offset} ({exc.strerror})") from None
        except ValueError:  # file closed under us
            raise self._fail("recording was closed while reading") from None

    __iter__ = batches

    def events(self) -> list[Event]:
        """Every readable event; the collector is paused while a million objects are built."""
        out: list[Event] = []
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for batch in self.batches():
                out.extend(batch)
        finally:
            if was_enabled:
                gc.enable()
        return out

    def close(self) -> None:
        if self._owns:
            self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _decode_batch(payload: bytes, start: int, after: int) -> Sequence[Event]:
    try:
        return fmt.decode_batch(payload)
    except fmt.FormatError as exc:
        raise _Damage(start, f"undecodable batch at byte {start} ({exc})", after) from None


def _decode_raw(payload: bytes, start: int, after: int) -> Sequence[Event]:
    try:
        return raw.decode_raw(payload)
    except raw.RawFormatError as exc:
        raise _Damage(start, f"undecodable raw batch at byte {start} ({exc})", after) from None


def _decode_end(payload: bytes, start: int, after: int) -> SourceStats:
    try:
        return fmt.decode_end(payload)
    except fmt.FormatError as exc:
        raise _Damage(start, f"bad trailer record at byte {start} ({exc})", after) from None


def _salvage(d: _Damage) -> Sequence[Event]:
    """The verified events of a damaged raw batch (schema 4); notes the count in ``d.what``."""
    if d.kind != raw.KIND_RAW or not d.payload:
        return []
    got = salvage.salvage_raw(d.payload)
    if got is None:
        return []
    batch, stored = got
    d.what = d.what[:-1] + f"; {len(batch)} of its {stored} events verified and kept)"
    return batch


def _not_the_end(d: _Damage) -> str:
    """A record that seemed cut off by the end of the file, when more records follow it:
    its length field was damaged, not the file truncated."""
    if d.what.startswith("truncated last record"):
        return f"corrupted record at byte {d.offset} (its length runs past the end of the file)"
    return d.what


def _guess_header(f: BinaryIO, offset: int, nxt: int) -> tuple[SourceInfo, float, str]:
    """What a damaged header still gives: its copy (schema 4), what of it decodes, or nothing."""
    empty = SourceInfo(live=False, topology=Topology())
    copy = _header_copy(f, nxt)
    if copy is not None:
        return copy[0], copy[1], "restored from its copy"
    try:
        f.seek(offset + fmt.RECORD_HEAD.size)
        payload = f.read(max(0, nxt - offset - fmt.RECORD_HEAD.size))
        info, created = fmt.decode_header(payload)
    except (OSError, fmt.FormatError):
        return empty, 0.0, "topology snapshot lost (namespaces shown by inode, no diagnosis)"
    return info, created, "its topology snapshot is used as decoded and may hold wrong values"


def _header_copy(f: BinaryIO, offset: int) -> tuple[SourceInfo, float] | None:
    """The header's copy if the intact record at ``offset`` is one (its crc32 was checked)."""
    try:
        rec = _read_record(f, offset)
        if rec is None or rec[0] != fmt.KIND_HEADER_COPY:
            return None
        return fmt.decode_header(rec[1])
    except (_Damage, OSError, fmt.FormatError):
        return None


def _size(f: BinaryIO) -> int:
    try:
        return resync.file_size(f)
    except OSError:
        return 0


def open_recording(source: str | os.PathLike[str] | bytes | BinaryIO) -> Recording:
    """Open a recording from a path, raw bytes or a binary file object.

    Raises BrtraceError (one line) when it is missing, not a recording, of an
    unknown schema_version, or its header is damaged.
    """
    if isinstance(source, (bytes, bytearray)):
        return Recording(io.BytesIO(bytes(source)), "<bytes>")
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            f = open(name, "rb")  # noqa: SIM115  (the Recording owns and closes it)
        except OSError as exc:
            raise BrtraceError(f"cannot read recording {name}: {exc.strerror}") from None
        return Recording(f, name)
    return Recording(source, getattr(source, "name", "<stream>"), owns_file=False)
