"""Write recordings as events arrive, so a killed brtrace leaves a readable file.

The live path records by wrapping its source (``LiveRecorder``) or by calling
``RecordWriter.write_batch(batch)`` for every batch it polls; each batch is one
framed record, flushed to the kernel at once. Only ``close()`` writes the
trailer with the source's counters; a file without one is still complete up
to its last whole batch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import BinaryIO, Self

from tracer.errors import BrtraceError
from tracer.model import Event, SourceStats
from tracer.record import format as fmt
from tracer.record import raw
from tracer.source import EventSource, SourceInfo, SourceWrapper

WRITER_NAME = "brtrace-record/1"


class RecordWriter:
    """Append-only writer: header (and its copy) at open, one record per batch, trailer at close."""

    def __init__(self, path: str | os.PathLike[str], info: SourceInfo,
                 created: float | None = None) -> None:
        self.path = os.fspath(path)
        self.events = 0
        self.batches = 0
        try:
            self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115  (kept open)
        except OSError as exc:
            raise BrtraceError(f"cannot write recording {self.path}: {exc.strerror}") from None
        when = time.time() if created is None else created
        self._write(fmt.preamble())
        header = fmt.encode_header(info, when, WRITER_NAME)
        self._write_record(fmt.KIND_HEADER, header)
        # The topology snapshot is most of a short recording: a copy lets a reader
        # whose header was damaged still name every device and diagnose the drops.
        self._write_record(fmt.KIND_HEADER_COPY, header)

    def write_batch(self, events: Sequence[Event]) -> None:
        """Append ``events`` and flush; large batches become several records.

        A live batch (the probe's raw records) is stored as those records:
        smaller work now, and a replay that loads it as fast as it was traced.
        """
        if raw.is_raw(events):
            self._write_raw(events)
            return
        for i in range(0, len(events), fmt.BATCH_EVENTS):
            self._write_chunk(events[i:i + fmt.BATCH_EVENTS])

    def close(self, stats: SourceStats | None = None) -> None:
        """Write the trailer (with the live source's ``stats`` if given); idempotent."""
        if self._file is None:
            return
        end = stats or SourceStats(events=self.events, batches=self.batches)
        try:
            self._write_record(fmt.KIND_END, fmt.encode_end(end))
        finally:
            f, self._file = self._file, None
            f.close()

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _write_chunk(self, events: Sequence[Event]) -> None:
        if not events:
            return
        payload = _encode(events)
        if len(payload) > fmt.MAX_PAYLOAD:
            if len(events) == 1:
                raise BrtraceError("an event is too large to record (huge headers capture?)")
            half = len(events) // 2
            self._write_chunk(events[:half])
            self._write_chunk(events[half:])
            return
        self._write_record(fmt.KIND_BATCH, payload)
        self.events += len(events)
        self.batches += 1

    def _write_raw(self, batch: Sequence[Event]) -> None:
        arr, dec = batch.arr, batch.decoder  # type: ignore[attr-defined]
        for i in range(0, len(arr), fmt.BATCH_EVENTS):
            part = arr[i:i + fmt.BATCH_EVENTS]
            self._write_record(raw.KIND_RAW, raw.encode_raw(part, dec))
            self.events += len(part)
            self.batches += 1

    def _write_record(self, kind: bytes, payload: bytes) -> None:
        self._write(fmt.frame(kind, payload) + payload)

    def _write(self, data: bytes) -> None:
        if self._file is None:
            raise BrtraceError(f"recording {self.path} is already closed")
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise BrtraceError(f"cannot write recording {self.path}: {exc.strerror}") from None


def _encode(events: Sequence[Event]) -> bytes:
    """Encode a batch; strings the kernel gave us undecodable are made printable."""
    try:
        return fmt.encode_batch(events)
    except UnicodeEncodeError:
        return fmt.encode_batch([_clean(e) for e in events])


def _clean(e: Event) -> Event:
    strs = {f: getattr(e, f) for f in ("ifname", "src_mac", "dst_mac", "inner_src_mac",
                                       "inner_dst_mac", "reason_name", "location_sym", "fdb_mac")}
    fixed = {k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
             for k, v in strs.items()}
    return replace(e, **fixed)


class LiveRecorder(SourceWrapper):
    """An EventSource that passes another source through and records every batch.

    ``brtrace ping --record FILE`` wraps the live source in one of these; views
    read from it exactly as from the live source.
    """

    def __init__(self, source: EventSource, path: str | os.PathLike[str]) -> None:
        super().__init__(source)
        self.writer = RecordWriter(path, source.info)

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        batch = self.source.poll(timeout_ms)
        if batch and not self.writer.closed:
            self.writer.write_batch(batch)
        return batch

    def close(self) -> None:
        """Close the source first so its final counters (lost events) reach the trailer."""
        try:
            self.source.close()
        finally:
            if not self.writer.closed:
                stats = self.source.stats()
                self.writer.close(SourceStats(events=self.writer.events, lost=stats.lost,
                                              batches=self.writer.batches))

