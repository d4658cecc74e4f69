"""The TUI labels namespaces as their runtimes name them (map, hop table)."""

from __future__ import annotations

import os
from dataclasses import replace

from rich.console import Console

from tests.tui.conftest import ListSource, sample_events
from tracer.topology.model import OWNER_CONTAINER, OWNER_POD, Owner
from tui.app import BrtraceApp
from tui.widgets.journey import JourneyTable
from tui.widgets.map_view import MapView


def _plain(renderable: object, width: int = 200) -> str:
    with open(os.devnull, "w") as sink:
        con = Console(width=width, record=True, file=sink)
        con.print(renderable)
        return con.export_text()


async def test_map_and_hops_show_container_and_pod_names() -> None:
    info, events = sample_events()
    owners = {"brt-pod-a": Owner(OWNER_CONTAINER, "docker", "web", "ab" * 32),
              "brt-pod-b": Owner(OWNER_POD, "cri", "web-2", "cd" * 32, "shop")}
    topo = replace(info.topology, namespaces=tuple(
        replace(ns, owners=(owners[ns.name],)) if ns.name in owners else ns
        for ns in info.topology.namespaces))
    app = BrtraceApp(ListSource(replace(info, topology=topo), events), label="test", rate_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        hops = app.query_one(JourneyTable).hops
        where = {h.netns for h in hops}
        assert {"web", "shop/web-2"} <= where and "pod-a" not in where, where
        assert any(h.kind == "container-eth0" for h in hops if h.netns == "web")
        map_text = _plain(app.query_one(MapView).render())
        assert "╭─ web ─" in map_text and "╭─ shop/web-2 ─" in map_text and "╭─ pod-a" not in map_text
