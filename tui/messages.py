"""The messages the worker thread posts to the TUI (one module, so the protocol reads in one place)."""

from __future__ import annotations

from textual.message import Message

from tracer.model import SourceStats
from tracer.source import SourceInfo
from tui.pump import Batch


class EventsArrived(Message):
    """Coalesced batches, as polled (a live batch stays columnar), and the source's counters."""

    def __init__(self, batches: list[Batch], stats: SourceStats) -> None:
        super().__init__()
        self.batches, self.stats = batches, stats

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.batches)


class SourceOpened(Message):
    """A live source attached its probes: which hooks are live, and where it records."""

    def __init__(self, info: SourceInfo, recording: str) -> None:
        super().__init__()
        self.info, self.recording = info, recording


class SourceEnded(Message):
    """The worker returned; ``error`` is an inert one-line reason, or empty."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error

