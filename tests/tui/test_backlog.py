"""The live TUI behind a flood (issue 18): what waits is spilled, the worker gathers, nothing is lost.

When the UI thread falls behind, batches beyond ``BACKLOG_EVENTS`` wait on
disk only and are read back from the spill when their turn comes; the packets
and the hops rebuilt for light rows must be the very ones of the in-memory path.
"""

from __future__ import annotations

import pytest

from tests.tui.test_light_rows import _check_rebuilt, _echo_flood
from tracer.model import SourceStats
from tui import ingest
from tui.pump import Coalescer


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
