"""Frame time of the TUI with 100k packets in the list (target: ≤ 50 ms).

Usage: ``.venv/bin/python bench/tui_frame.py [--packets N] [--sample FILE]``

The packets are copies of the recorded flannel probes (each with its full
request and reply hops), so every cursor move does the real work: repaint
the visible list rows, rebuild the journey table, restyle the map and decode
the hop's headers with scapy. A *frame* is measured headless at 120×40 as
the key's handler (selection, journey, map, detail) plus a full repaint of
the screen by the compositor: every widget renders its visible lines. The
Pilot round trip (press + wait for idle) is printed too; it adds the test
harness's own fixed wait on top of the frame and is not the frame time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

# Run as a script: the tree this file is in, first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.widget import Widget

from bench.figure import TUI_FRAME
from tracer.correlate import Correlator
from tracer.correlate.pairing import Packet, PacketBook
from tracer.record import ReplaySource
from tracer.source import SourceInfo
from tui.app import BrtraceApp
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList
from tui.widgets.topology import TopologyPane

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = ROOT / "tests/tui/data/flannel-ping.brt"


def templates(sample: Path) -> tuple[SourceInfo, list[Packet]]:
    src = ReplaySource(sample)
    corr, book = Correlator(), PacketBook(src.info.topology)
    while batch := src.poll():
        book.update(corr, corr.feed(batch))
    book.update(corr, set(), final=True)
    return src.info, list(book.packets.values())


async def measure(n: int, sample: Path, keys: list[str]) -> dict[str, list[float]]:
    info, tpl = templates(sample)
    app = BrtraceApp(topology=info.topology, label="bench", rate_interval=None)
    app.info = info
    out: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        t = time.perf_counter()
        for pid in range(1, n + 1):
            app.book.packets.add(replace(tpl[pid % len(tpl)], pid=pid))
        inodes = {h.netns_inode for p in tpl for h in p.hops if h.netns_inode}
        app.query_one(TopologyPane).show_namespaces(inodes)  # the map, as after a live run
        plist = app.query_one(PacketList)
        plist.append(list(range(1, n + 1)))
        plist.select_index(n // 2)
        await pilot.pause()
        app.settle_memory()  # as the app does after each ingest of FREEZE_EVERY packets
        out["load"] = [time.perf_counter() - t]
        for key in keys:
            times, trips = [], []
            for _ in range(30):
                await pilot.pause()
                t = time.perf_counter()
                ACTIONS[key](app)
                _drain(app)
                frame(app)
                times.append(time.perf_counter() - t)
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                trips.append(time.perf_counter() - t)
            out[key] = times
            out[f"{key} (pilot round trip)"] = trips
    return out


ACTIONS = {
    "down": lambda app: app.query_one(PacketList).action_cursor(1),
    "pagedown": lambda app: app.query_one(PacketList).action_page(1),
    "up": lambda app: app.query_one(PacketList).action_cursor(-1),
    "j": lambda app: app.action_step(1),
    "n": lambda app: app.action_next_packet(),
}


def _drain(app: BrtraceApp) -> None:
    """Run the selection work the key posted (Highlighted messages) synchronously."""
    plist = app.query_one(PacketList)
    if app.query_one(JourneyTable).pid != plist.selected:
        app._show_packet(plist.selected, to_last=False)
    app._show_hop()


def frame(app: BrtraceApp) -> None:
    """One full repaint: layout, then every visible line of every widget rendered."""
    screen = app.screen
    for w in screen.walk_children(Widget):
        w._styles_cache.clear()
    screen._compositor.reflow(screen, app.size)
    screen._compositor.render_update(full=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE)
    args = ap.parse_args()
    res = asyncio.run(measure(args.packets, args.sample, ["down", "pagedown", "up", "j", "n"]))
    print(f"packets listed: {args.packets:,}; append + first frame: {res.pop('load')[0] * 1000:.0f} ms")
    worst = 0.0
    for key, ts in res.items():
        ms = sorted(x * 1000 for x in ts)
        p95 = ms[int(len(ms) * 0.95) - 1]
        if "round trip" not in key:
            worst = max(worst, p95)
        print(f"  key {key:<9} frame median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
              f"max {ms[-1]:6.1f} ms")
    met = TUI_FRAME.met(worst)
    verdict = "OK" if met else "OVER"
    print(f"frame time p95 (worst key): {worst:.1f} ms — target {TUI_FRAME.text()}: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
