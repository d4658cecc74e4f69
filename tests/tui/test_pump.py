"""The worker plumbing hands live (columnar) batches on as they were polled.

A raw recording replays as the probe's own record batches (lazy, columnar),
like a live source; flattening them into Events in the worker would build
every Event and send the live TUI down the correlator's slow path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracer.correlate import Correlator
from tracer.model import Event, SourceStats
from tracer.record import ReplaySource
from tui.ingest import netns_seen
from tui.pump import Coalescer, WorkerLink, source_runner

RAW_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "flannel-ping.brt"


def _polled() -> list[Sequence[Event]]:
    src = ReplaySource(RAW_SAMPLE)
    out = []
    while batch := src.poll():
        out.append(batch)
    src.close()
    return out


def test_source_runner_and_coalescer_keep_batches_columnar() -> None:
    posted: list[Sequence[Event]] = []
    co = Coalescer(lambda bs, st: posted.extend(bs), interval=1.0, clock=lambda: 0.0)
    src = ReplaySource(RAW_SAMPLE)
    source_runner(src)(WorkerLink(co.push, lambda: False, lambda info, rec: None))
    co.flush()
    polled = _polled()
    assert posted and all(hasattr(b, "arr") for b in posted)  # still the record arrays
    assert [len(b) for b in posted] == [len(b) for b in polled]
    assert co.posts == 2  # the first push at once, the rest at the final flush (one interval)


def test_batches_are_posted_as_the_same_objects() -> None:
    batches = _polled()
    posted: list[Sequence[Event]] = []
    co = Coalescer(lambda bs, st: posted.extend(bs), interval=3600.0, clock=lambda: 0.0)
    for b in batches:
        co.push(b, SourceStats(events=1))
    co.flush()
    assert len(posted) == len(batches) and all(p is b for p, b in zip(posted, batches, strict=True))


def test_columnar_feed_gives_the_events_journeys() -> None:
    batches = _polled()
    columnar, flat = Correlator(), Correlator()
    for b in batches:
        columnar.feed(b)
        flat.feed(list(b))
    assert len(columnar.journeys) == len(flat.journeys) > 0
    assert netns_seen(batches) == {e.netns for b in batches for e in list(b)} - {0}
    assert len(netns_seen(batches)) >= 4
