"""The drawn map with the selected packet's path lit: a widget sized to its layout.

Only styles change as the selection moves along a path; the layout
(``tui.topomap``) is made by the topology pane when the namespaces shown change.
"""

from __future__ import annotations

from rich.console import Group as RichGroup
from rich.text import Text
from textual.widget import Widget

from tracer.correlate import Hop
from tracer.correlate.vocab import Verb
from tui.topomap import DevKey, MapLayout

PATH, CURRENT, DROP = "bold green", "bold black on yellow", "bold white on red"
CULPRIT = "bold yellow on dark_magenta"  # the device whose setting the diagnosis blames
CULPRIT_MARK = "✗"


class PathMarks:
    """Which devices and namespaces the selected packet touches, where it is now, and the culprit."""

    def __init__(self, hops: list[Hop], current: Hop | None, culprit: DevKey | None = None) -> None:
        self.culprit = culprit
        self.devices: set[DevKey] = {(h.netns_inode, h.ifindex) for h in hops if h.netns_inode}
        self.netns = {h.netns_inode for h in hops}
        self.current = (current.netns_inode, current.ifindex) if current else None
        self.current_ns = current.netns_inode if current else None
        self.dropped = {(h.netns_inode, h.ifindex) for h in hops if h.verb == Verb.DROP}

    def style(self, tag: object, lay: MapLayout) -> str | None:
        """The highlight for one canvas tag, or None to keep its base style."""
        if not isinstance(tag, tuple) or not tag:
            return None
        kind = tag[0]
        if kind == "dev":
            key = (tag[1], tag[2])
            if key == self.culprit:
                return CULPRIT
            if key == self.current:
                return DROP if key in self.dropped else CURRENT
            return DROP if key in self.dropped else (PATH if key in self.devices else None)
        if kind == "ns":
            return "bold yellow" if tag[1] == self.current_ns else ("green" if tag[1] in self.netns else None)
        if kind == "wire":
            return PATH if tag[1] in self.devices and tag[2] in self.devices else None
        if kind == "up":
            return PATH if tag[1] in self.devices else None
        if kind == "tunnel":
            return "bold magenta" if sum(k in self.devices for k in lay.tunnels) >= 2 else None
        if kind == "underlay":
            ups = sum(1 for t in self.devices if t in lay.devices and t not in lay.tunnels)
            return "bold yellow" if ups and self.netns & lay.shown else None
        return None


class MapView(Widget):
    """The drawn map; its size is the layout's so the container can scroll it."""

    DEFAULT_CSS = "MapView { width: auto; height: auto; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.lay: MapLayout | None = None
        self.marks = PathMarks([], None)

    def get_content_width(self, container, viewport) -> int:  # type: ignore[no-untyped-def]
        return self.lay.width if self.lay else 1

    def get_content_height(self, container, viewport, width) -> int:  # type: ignore[no-untyped-def]
        return self.lay.height if self.lay else 1

    def render(self) -> RichGroup:
        if self.lay is None:
            return RichGroup(Text("(no topology)", style="dim"))
        lay, marks = self.lay, self.marks
        overlay = {}
        if marks.current and marks.current in lay.devices:
            x, y = lay.devices[marks.current]
            overlay[(x + 1, y)] = "▶"
        if marks.culprit and marks.culprit in lay.devices:
            x, y = lay.devices[marks.culprit]
            overlay[(x + 1, y)] = CULPRIT_MARK
        return RichGroup(*lay.canvas.render(lambda tag: marks.style(tag, lay), overlay))
