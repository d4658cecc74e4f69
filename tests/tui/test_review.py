"""Reviewing a recorded drop in the TUI: the diagnosis on screen, the culprit on the map,
and a damaged recording that says so (issue 20, items 1 and 2). Real samples, no root."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from textual.widgets import Tree

from tests.tui.test_app import _loaded, _plain
from tracer.record import ReplaySource
from tui.app import BrtraceApp
from tui.widgets.detail import DetailPane
from tui.widgets.journey import JourneyTable
from tui.widgets.map_view import CULPRIT, CULPRIT_MARK, MapView
from tui.widgets.status import StatusBar
from tui.widgets.topology import TopologyPane

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_DROP = ROOT / "samples" / "bridge-drop.brt"
FLANNEL = ROOT / "samples" / "flannel-ping.brt"
CAUSE = "bridge port veth20 of br0 in bridge-host is in STP state 'disabled'"
FIX = "ip netns exec brt-bridge-host bridge link set dev veth20 state 3"


def _app(path: Path) -> BrtraceApp:
    return BrtraceApp(ReplaySource(path), label=f"replay {path.name}", rate_interval=None)


def _detail(app: BrtraceApp) -> str:
    return " ".join(_plain(Group(*app.query_one(DetailPane).lines), 300).split())


async def test_drop_hop_shows_cause_checks_fix_and_status() -> None:
    app = _app(BRIDGE_DROP)
    async with app.run_test(size=(160, 40)) as pilot:
        await _loaded(app, pilot)
        table = app.query_one(JourneyTable)
        assert table.current is not None and table.current.verb == "drop"  # follow: the last hop
        detail = _detail(app)
        assert f"cause: {CAUSE}" in detail and f"fix: {FIX}" in detail
        assert "checked: veth20: link up, bridge port state disabled" in detail
        assert "the device at fault: bridge-host/veth20" in detail
        status = app.query_one(StatusBar).text.plain
        assert f"✗ {CAUSE}" in status and f"fix: {FIX}" in status
        # an earlier hop of the same packet points at the diagnosis in one line
        await pilot.press("k")
        await pilot.pause()
        detail = _detail(app)
        assert f"diagnosis (hop 4): {CAUSE}" in detail and "fix:" not in detail
        assert "fix: " in app.query_one(StatusBar).text.plain, "the status keeps the packet's fix"


async def test_culprit_is_marked_on_the_map_and_tree() -> None:
    app = _app(BRIDGE_DROP)
    async with app.run_test(size=(160, 40)) as pilot:
        await _loaded(app, pilot)
        ns = app.topo.find_netns("bridge-host")
        assert ns is not None
        veth20, veth10 = ns.link_by_name("veth20"), ns.link_by_name("veth10")
        assert veth20 is not None and veth10 is not None
        key = (ns.inode, veth20.ifindex)
        pane = app.query_one(TopologyPane)
        assert pane.marks.culprit == key
        view = app.query_one(MapView)
        assert view.lay is not None and key in view.lay.devices
        assert pane.marks.style(("dev", *key), view.lay) == CULPRIT
        assert pane.marks.style(("dev", ns.inode, veth10.ifindex), view.lay) != CULPRIT
        x, y = view.lay.devices[key]
        row = _plain(view.render(), 300).splitlines()[y]
        assert row[x + 1] == CULPRIT_MARK and "veth20" in row
    narrow = _app(BRIDGE_DROP)
    async with narrow.run_test(size=(40, 40)) as pilot:  # the tree fallback marks it too
        await _loaded(narrow, pilot)
        tree: Tree[None] = narrow.query_one("#topo-tree", Tree)
        leaves = [str(leaf.label) for node in tree.root.children for leaf in node.children]
        assert any(label.startswith(f"{CULPRIT_MARK} veth20") for label in leaves), leaves


async def test_teaching_mode_explains_the_drop() -> None:
    app = _app(BRIDGE_DROP)
    async with app.run_test(size=(160, 40)) as pilot:
        await _loaded(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        detail = _detail(app)
        assert "Why it was dropped" in detail and f"fix: {FIX}" in detail
        assert "The kernel dropped the packet here" in detail  # the hop's own explanation


async def test_delivered_packet_has_no_diagnosis() -> None:
    app = _app(FLANNEL)
    async with app.run_test(size=(160, 40)) as pilot:
        await _loaded(app, pilot)
        assert "✗" not in app.query_one(StatusBar).text.plain
        assert "cause:" not in _detail(app)
        assert app.query_one(TopologyPane).marks.culprit is None


async def test_damaged_recording_says_so(tmp_path: Path) -> None:
    data = bytearray(FLANNEL.read_bytes())
    mid = len(data) // 2
    for i in range(8):
        data[mid + i] ^= 0xFF
    path = tmp_path / "damaged.brt"
    path.write_bytes(bytes(data))
    app = _app(path)
    async with app.run_test(size=(200, 40)) as pilot:
        await _loaded(app, pilot)
        assert len(app.book.packets) == 2, "the probes after the damage are salvaged"
        status = app.query_one(StatusBar).text.plain
        assert "DAMAGED RECORDING: kept 95 events, lost 46 of 141 recorded; 1 damaged record" in status
        assert status.index("lost 0") < status.index("DAMAGED"), "right after the lost counter"
        notes = [str(n.message) for n in app._notifications]
        assert any(n.startswith("corrupted record at byte") and "lost 46 of 141 recorded" in n
                   for n in notes), notes
