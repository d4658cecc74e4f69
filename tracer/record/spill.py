"""What a live view has seen, kept on disk instead of in memory, ready to save.

Why: the TUI kept every Event it was shown (to save them on request), so a
long live session grew without limit (issue 18). Here each batch is appended
to a temporary recording as it arrives (a live batch as its raw records,
~300 bytes an event, nothing built); saving copies the bytes written so far
and adds the trailer. The file is unlinked as soon as it is open, so nothing
is left behind, even when the process is killed.

Each ``add`` is a *chunk* whose byte range is kept (8 bytes a chunk), so a
view that keeps only light rows can read back the few chunks a packet
spanned and rebuild its hops when it is selected (``tui/rows.py``).
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Iterator, Sequence

from tracer.errors import BrtraceError
from tracer.model import Event, SourceStats
from tracer.record import format as fmt
from tracer.record import raw
from tracer.record.writer import RecordWriter
from tracer.source import SourceInfo

COPY_CHUNK = 1 << 20


class SeenSpill:
    """Append-only store of seen events; ``save`` writes them as a complete recording."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = directory
        self._writer: RecordWriter | None = None
        self._fd = -1  # a read handle on the unlinked file
        self._chunks = array("q")  # byte offset where each non-empty add began
        self.events = 0

    @property
    def chunks(self) -> int:
        """How many non-empty batches were added: the next one's chunk number."""
        return len(self._chunks)

    def add(self, events: Sequence[Event], info: SourceInfo) -> None:
        """Append a batch (opens the file on the first one, with ``info`` as its header)."""
        if not len(events):
            return
        if self._writer is None:
            self._open(info)
        assert self._writer is not None
        self._chunks.append(os.fstat(self._fd).st_size)
        self._writer.write_batch(events)
        self.events += len(events)

    def read(self, first: int, last: int) -> Iterator[Sequence[Event]]:
        """The batches of chunks ``first``..``last`` (inclusive), decoded again, in order."""
        first, last = max(0, first), min(last, len(self._chunks) - 1)
        if first > last or self._fd < 0:
            return
        start = self._chunks[first]
        end = self._chunks[last + 1] if last + 1 < len(self._chunks) else os.fstat(self._fd).st_size
        data = os.pread(self._fd, end - start, start)
        at, head = 0, fmt.RECORD_HEAD
        while at + head.size <= len(data):
            length, _crc, kind = head.unpack_from(data, at)
            payload = data[at + head.size:at + head.size + length]
            at += head.size + length
            if kind == raw.KIND_RAW:
                yield raw.decode_raw(payload)
            elif kind == fmt.KIND_BATCH:
                yield fmt.decode_batch(payload)

    def _open(self, info: SourceInfo) -> None:
        fd, path = tempfile.mkstemp(prefix="brt-seen-", suffix=".brt", dir=self._dir)
        os.close(fd)
        try:
            self._writer = RecordWriter(path, info)
            self._fd = os.open(path, os.O_RDONLY)
        finally:
            os.unlink(path)

    def mark(self) -> tuple[int, int, int]:
        """(bytes, events, records) written so far: what ``save`` will copy.

        Taken on the thread that calls ``add``, so it always lies between two
        whole records; ``save`` may then run on another thread.
        """
        if self._writer is None or self._fd < 0:
            raise BrtraceError("nothing seen yet to save")
        return os.fstat(self._fd).st_size, self.events, self._writer.batches

    def save(self, path: str | os.PathLike[str], lost: int,
             mark: tuple[int, int, int] | None = None) -> int:
        """Write what was added up to ``mark`` (default: now) to ``path`` with a
        trailer; returns the event count."""
        size, events, batches = mark or self.mark()
        end = fmt.encode_end(SourceStats(events=events, lost=lost, batches=batches))
        try:
            with open(path, "wb") as out:
                done = 0
                while done < size:
                    chunk = os.pread(self._fd, min(COPY_CHUNK, size - done), done)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                out.write(fmt.frame(fmt.KIND_END, end) + end)
        except OSError as exc:
            raise BrtraceError(f"cannot write recording {os.fspath(path)}: {exc.strerror}") from None
        return events

    def close(self) -> None:
        """Drop the file (it was unlinked at open: closing frees its space)."""
        if self._writer is not None:
            w, self._writer = self._writer, None
            try:
                w.close()
            except BrtraceError:
                pass
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
