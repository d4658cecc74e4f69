"""Snapshots of the main screen at 120×40, 80×24, 120×30 and 140×42 (baselines in __snapshots__/).

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


async def _to_node2(pilot) -> None:  # type: ignore[no-untyped-def]
    """Packet 1's request at node2's cni0 (hop 12): the map must have scrolled to node2."""
    await _settle(pilot)
    await pilot.press("p", "p", *["j"] * 11)
    await pilot.pause()


def test_step_at_node2_120x30(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_replay(), terminal_size=(120, 30), run_before=_to_node2)


def test_step_at_node2_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_replay(), terminal_size=(80, 24), run_before=_to_node2)


def test_main_screen_140x42(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_replay(), terminal_size=(140, 42), run_before=_to_node2)


def test_dropped_packet_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    info, events = dropped_events()
    app = BrtraceApp(ListSource(info, events, batch=len(events)), label="replay dropped",
                     rate_interval=None)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_settle)
