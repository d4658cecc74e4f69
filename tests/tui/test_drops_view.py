"""The drops view on a recording (no root): groups, rates, pause, inert names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.tui.conftest import ListSource
from tracer.model import Hook
from tracer.record import ReplaySource, open_recording
from tui.drops import DropsApp

FAULTS = Path(__file__).resolve().parents[1] / "data" / "faults"


async def test_drops_view_groups_by_netns_device_reason() -> None:
    app = DropsApp(ReplaySource(FAULTS / "route-missing.brt"), interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        app.refresh_rows()
        await pilot.pause()
        assert app.table.total >= 1
        keys = {(r.netns, r.dev, r.reason) for r in app.table.totals(1.0)}
        assert ("node1", "cni0", "IP_INNOROUTES") in keys
        await pilot.press("space")
        assert app.paused
        await pilot.press("q")


async def test_drops_view_shows_hostile_names_as_text() -> None:
    rec = open_recording(FAULTS / "route-missing.brt")
    evil = [dataclasses.replace(e, ifname="[red]x\x1b[2J", reason_name="[b]R") if e.hook == Hook.KFREE_SKB
            else e for e in rec.events()]
    app = DropsApp(ListSource(rec.info, evil), interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        app.refresh_rows()
        await pilot.pause()
        reasons = {r.reason for r in app.table.totals(1.0)}
        assert "[b]R" in reasons
        await pilot.press("q")
