"""Snapshots of the main screen at 120×40 and 80×24 (baselines in __snapshots__/).

All events arrive in one message (how a worker's batches split depends on
timing), follow mode selects the last packet's last hop, and the event-rate
timer is off, so nothing in the view depends on the clock.
Regenerate after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from tests.tui.conftest import ListSource, dropped_events, sample_events
from tui.app import BrtraceApp


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def _replay() -> BrtraceApp:
    info, events = sample_events()
    return BrtraceApp(ListSource(info, events, batch=len(events)), label="replay flannel-ping.brt",
                      rate_interval=None)


def test_main_screen_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_replay(), terminal_size=(120, 40), run_before=_settle)


def test_main_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_replay(), terminal_size=(80, 24), run_before=_settle)


def test_dropped_packet_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events, batch=len(events)), label="replay dropped",
                     rate_interval=None)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_settle)
