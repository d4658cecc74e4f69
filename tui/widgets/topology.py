"""The topology pane: the map with the selected packet's path lit, or a compact path when too narrow.

The map is laid out (``tui.topomap``) only when the set of namespaces shown
changes; moving along a path just restyles cells by tag, and scrolls the map
so the current hop stays in view (a short pane shows one node of two). When
the map is wider than the pane, the compact path (``path_strip``) and the
Tree take its place, with the path's devices marked the same way.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static, Tree

from tracer.correlate import Hop
from tracer.render.inert import inert
from tracer.topology.groups import device_text, group_namespaces
from tracer.topology.model import Topology
from tui.topomap import DevKey, layout
from tui.widgets.map_view import CULPRIT, CULPRIT_MARK, CURRENT, PATH, MapView, PathMarks
from tui.widgets.path_strip import strip_lines


class TopologyPane(Vertical):
    """Caption line, then the map (or the tree fallback)."""

    def __init__(self, topo: Topology, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.topo = topo
        self.only: set[int] = set()
        self.marks = PathMarks([], None)
        self.strip: tuple[list[Hop], int, int] = ([], -1, 0)  # hops, row, request hop count

    def compose(self) -> ComposeResult:
        yield Static(Text("no packet selected", style="dim"), id="topo-caption")
        with ScrollableContainer(id="map-scroll"):
            yield MapView(id="map")
        with ScrollableContainer(id="strip-scroll"):
            yield Static(id="path-strip")
        yield Tree(Text("topology"), id="topo-tree")

    def on_mount(self) -> None:
        self._relayout()

    def show_namespaces(self, inodes: set[int]) -> None:
        """Restrict the map to groups these namespaces belong to (relayout only if they grew)."""
        if inodes <= self.only:
            return
        self.only |= inodes
        self._relayout()

    def _relayout(self) -> None:
        view = self.query_one(MapView)
        view.lay = layout(self.topo, self.only or None)
        view.marks = self.marks
        view.refresh(layout=True)
        self._fill_tree()
        self._choose_view()

    def mark(self, hops: list[Hop], current: Hop | None, caption: Text,
             culprit: DevKey | None = None, row: int = -1, n_request: int | None = None) -> None:
        """Light the path, the current hop and the culprit device; no relayout."""
        n_req = len(hops) if n_request is None else n_request
        self.marks = PathMarks(hops, current, culprit, row, n_req)
        self.strip = (hops, row, n_req)
        view = self.query_one(MapView)
        view.marks = self.marks
        view.refresh()
        self.query_one("#topo-caption", Static).update(caption)
        if self.query_one(Tree).display:
            self._fill_tree()
        self._choose_view()
        self.call_after_refresh(self._scroll_to_current)

    def _scroll_to_current(self) -> None:
        """Centre the map (or the compact path) on the current hop when it is out of view."""
        lay, cur = self.query_one(MapView).lay, self.marks.current
        scroll = self.query_one("#map-scroll", ScrollableContainer)
        if scroll.display and lay is not None and cur in lay.devices:
            x, y = lay.devices[cur]
            h, w = scroll.scrollable_content_region.height, scroll.scrollable_content_region.width
            if not scroll.scroll_y <= y < scroll.scroll_y + h:
                scroll.scroll_to(y=max(0, y - h // 2), animate=False)
            if not scroll.scroll_x <= x < scroll.scroll_x + w - 4:
                scroll.scroll_to(x=max(0, x - w // 3), animate=False)

    def _fill_strip(self) -> None:
        hops, row, n_req = self.strip
        box = self.query_one("#strip-scroll", ScrollableContainer)
        if not box.display or not hops or row < 0:
            self.query_one("#path-strip", Static).update("")
            return
        lines, at = strip_lines(hops, row, n_req, self.marks)
        self.query_one("#path-strip", Static).update(Text("\n").join(lines))
        box.scroll_to(y=max(0, at - box.size.height // 2), animate=False)

    def on_resize(self) -> None:
        self._choose_view()

    def _choose_view(self) -> None:
        """The map when it fits the pane's width, the tree when it does not."""
        lay = self.query_one(MapView).lay
        fits = lay is not None and lay.width <= self.size.width - 2
        self.query_one("#map-scroll").display = fits or self.size.width == 0
        narrow = not fits and self.size.width > 0
        self.query_one(Tree).display = narrow
        self.query_one("#strip-scroll").display = narrow and bool(self.strip[0])
        self._fill_strip()

    def _fill_tree(self) -> None:
        tree: Tree[None] = self.query_one(Tree)
        tree.clear()
        tree.root.expand()
        groups, loose = group_namespaces(self.topo, self.only or None)
        for ns in [ns for g in groups for ns in (g.node, *g.pods)] + loose:
            style = ("bold yellow" if ns.inode == self.marks.current_ns
                     else "green" if ns.inode in self.marks.netns else "")
            node = tree.root.add(Text(inert(ns.label), style=style), expand=True)
            for ln in ns.links:
                if ln.kind == "loopback":
                    continue
                key = (ns.inode, ln.ifindex)
                st = (CULPRIT if key == self.marks.culprit else CURRENT if key == self.marks.current
                      else PATH if key in self.marks.devices else "")
                lead = (f"{CULPRIT_MARK} " if key == self.marks.culprit
                        else "▶ " if key == self.marks.current else "")
                node.add_leaf(Text(lead + device_text(self.topo, ns, ln), style=st))
