"""Read a live source until it has been quiet for three polls (bounded at 10 s).

The kernel tests that count what a burst produced need every event the ring
still holds when the sender is done, and no more waiting than that.
"""

from __future__ import annotations

import time

from tracer.model import Event
from tracer.source import EventSource


def drain_quiet(src: EventSource, out: list[Event] | None = None) -> list[Event]:
    """Append to ``out`` (a new list if None) until three polls of 100 ms bring nothing."""
    got = [] if out is None else out
    quiet, end = 0, time.monotonic() + 10
    while quiet < 3 and time.monotonic() < end:
        batch = src.poll(100)
        got.extend(batch)
        quiet = 0 if batch else quiet + 1
    return got
