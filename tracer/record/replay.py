"""Replay a recording as an EventSource: as fast as possible, or paced by timestamps.

Split from ``reader.py``, which turns bytes into batches and a damage report;
this module only hands those batches out poll by poll (the TUI and ``brtrace
replay`` read a recording exactly as they read a live trace), optionally at
the pace they were recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import BinaryIO

from tracer.errors import BrtraceError
from tracer.model import Event, SourceStats
from tracer.record import format as fmt
from tracer.record.reader import Recording, open_recording
from tracer.source import SourceInfo


class ReplaySource:
    """An EventSource over a recording: as fast as possible, or paced by timestamps.

    With ``speed=None`` each poll hands out the next ``max_batch`` events.
    With ``speed=s`` events come out when ``(ts - first_ts) / s`` of wall time
    has passed since the first poll, so the TUI shows a live-looking replay.
    """

    def __init__(self, path: str | os.PathLike[str] | bytes | BinaryIO,
                 speed: float | None = None, max_batch: int = fmt.BATCH_EVENTS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if speed is not None and not speed > 0:
            raise BrtraceError(f"replay speed must be greater than 0, not {speed}", 2)
        self._rec = open_recording(path)
        self._info = replace(self._rec.info, live=False)
        self._batches = self._rec.batches()
        self._buf: Sequence[Event] = []
        self._pos = 0
        self._done = False
        self._speed, self._max, self._clock, self._sleep = speed, max(1, max_batch), clock, sleep
        self._t0: float | None = None
        self._ts0 = 0
        self._events = 0
        self._polls = 0

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def recording(self) -> Recording:
        return self._rec

    @property
    def damage(self) -> str | None:
        return self._rec.damage

    @property
    def damage_brief(self) -> str:
        """The damage's counts first (``kept …, lost … of … recorded``), for a status line."""
        return self._rec.report.brief(self._rec.end_stats)

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        if not self._fill():
            return []
        if self._speed is None:
            if self._pos == 0 and len(self._buf) <= self._max:
                out = self._buf  # a whole stored batch, still lazy
            else:
                out = self._buf[self._pos:self._pos + self._max]
            self._pos += len(out)
        else:
            out = self._due(timeout_ms / 1000.0)
        if out:
            self._events += len(out)
            self._polls += 1
        return out

    def _due(self, timeout_s: float) -> list[Event]:
        """Events whose replay time has come, waiting up to ``timeout_s`` for the next."""
        now = self._clock()
        if self._t0 is None:
            self._t0, self._ts0 = now, self._buf[self._pos].ts_ns
        wait = self._when(self._buf[self._pos]) - now
        if wait > 0:
            self._sleep(min(wait, max(timeout_s, 0.0)))
            now = self._clock()
        out: list[Event] = []
        while len(out) < self._max and self._fill() and self._when(self._buf[self._pos]) <= now:
            out.append(self._buf[self._pos])
            self._pos += 1
        return out

    def _when(self, e: Event) -> float:
        assert self._t0 is not None and self._speed is not None
        return self._t0 + (e.ts_ns - self._ts0) / 1e9 / self._speed

    def _fill(self) -> bool:
        """True when an event is waiting at ``_pos``; reads the next batch if needed."""
        while self._pos >= len(self._buf):
            if self._done:
                return False
            nxt = next(self._batches, None)
            if nxt is None:
                self._done = True
                return False
            self._buf, self._pos = nxt, 0
        return True

    @property
    def exhausted(self) -> bool:
        return not self._fill()

    def stats(self) -> SourceStats:
        lost = self._rec.end_stats.lost if self._rec.end_stats else 0
        return SourceStats(events=self._events, lost=lost, batches=self._polls)

    def close(self) -> None:
        self._done = True
        self._buf, self._pos = [], 0
        self._batches.close()
        self._rec.close()
