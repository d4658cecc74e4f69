"""The live TUI behind a flood (issue 18): what waits is spilled, the worker gathers, nothing is lost.

When the UI thread falls behind, batches beyond ``BACKLOG_EVENTS`` wait on
disk only and are read back from the spill when their turn comes; the packets
and the hops rebuilt for light rows must be the very ones of the in-memory path.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.support.synth import flannel_batch
from tests.tui.test_light_rows import _check_rebuilt, _echo_flood
from tracer.model import SourceStats
from tracer.schema.decode import Decoder
from tracer.source import SourceInfo
from tracer.topology.model import Topology
from tui import ingest
from tui.app import BrtraceApp
from tui.pump import Coalescer
from tui.state import Pending

BATCHES = 100  # of 100 synthetic packets each: seconds of correlating, a slice per turn


async def test_backlog_waiting_on_disk_gives_the_same_packets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "BACKLOG_EVENTS", 0)  # every batch waits in the spill only
    await _check_rebuilt(*_echo_flood())


def test_coalescer_waits_for_the_ack_and_gathers_meanwhile() -> None:
    posted: list[int] = []
    now = [0.0]
    co = Coalescer(lambda bs, st: posted.append(sum(len(b) for b in bs)), interval=0.05,
                   clock=lambda: now[0], window=1)
    stats = SourceStats()
    co.push([object()] * 3, stats)  # type: ignore[list-item]
    assert posted == [3]
    for _ in range(4):  # the app has not handled the first message: these are gathered
        now[0] += 0.1
        co.push([object()] * 2, stats)  # type: ignore[list-item]
    assert posted == [3] and co.buffered == 8 and co.lag() == pytest.approx(0.3)
    co.ack()
    now[0] += 0.1
    co.push([], stats)
    assert posted == [3, 8] and co.buffered == 0 and co.lag() == 0.0  # one message, nothing lost



async def test_other_threads_get_through_between_slices_of_a_backlog() -> None:
    """The backlog is correlated a slice per turn, and what another thread hands the
    UI meanwhile (the worker's batches, a key) is taken between two slices. It was
    not: textual takes a queued message without yielding to the event loop, a slice
    re-posted itself, and a cross-thread post (which enters the queue from the
    loop) waited until the whole backlog was correlated; a live flood's batches
    piled up in the worker's memory meanwhile (issue 18)."""
    topo = Topology()
    app = BrtraceApp(topology=topo, label="backlog", rate_interval=None)
    dec = Decoder()
    batches = [dec.decode(flannel_batch(1800, first_packet=i * 100, t0_ns=1_000_000_000 + i * 10_000_000))
               for i in range(BATCHES)]
    left: list[int] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.info = SourceInfo(live=True, topology=topo)
        app.queue_ingest([Pending(-1, b, len(b)) for b in batches])  # a first turn now, the rest later
        other = threading.Thread(target=lambda: left.append(app.call_from_thread(lambda: len(app._backlog))))
        other.start()
        while other.is_alive():
            await asyncio.sleep(0.01)
        while app._backlog:
            await asyncio.sleep(0.05)
        await pilot.pause()  # the last redraw's messages, before the app closes
        assert app.facts.packets == BATCHES * 100  # every packet was correlated in the end
    assert left and left[0] >= BATCHES // 2, left  # the other thread got in early, not after the backlog


async def test_a_backlog_whose_next_slice_never_came_is_said_and_drained() -> None:
    """A backlog left with no slice scheduled (the state a lost continuation leaves)
    must neither hold its packets back nor go unsaid: the status line counts it as
    queued once it waited BEHIND_S, and the rate tick drains it after STALLED_S."""
    topo = Topology()
    app = BrtraceApp(topology=topo, label="stalled", rate_interval=None)
    dec = Decoder()
    batches = [dec.decode(flannel_batch(180, first_packet=i * 10, t0_ns=1_000_000_000 + i * 10_000_000))
               for i in range(3)]
    async with app.run_test(size=(120, 40)) as pilot:
        app.info = SourceInfo(live=True, topology=topo)
        app._backlog.extend(Pending(-1, b, len(b)) for b in batches)  # queued, no slice scheduled
        app._queued = sum(len(b) for b in batches)
        app._draining = True
        assert app._drained_at == 0.0  # never drained: seconds behind any monotonic now
        app._tick_rate()
        await pilot.pause()
        assert app.facts.packets == 30 and not app._backlog  # drained by the tick
        app._backlog.append(Pending(-1, batches[0], len(batches[0])))
        app._queued = len(batches[0])
        app._draining = True
        app._drained_at = time.monotonic() - ingest.BEHIND_S
        app.note_backlog()
        assert app.facts.queued == len(batches[0])  # said, not yet restarted
        app._tick_rate()
        assert len(app._backlog) == 1  # under STALLED_S: left to its own slice
