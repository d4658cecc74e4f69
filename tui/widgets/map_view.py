"""The drawn map with the selected packet's path lit: a widget sized to its layout.

Only styles change as the selection moves along a path; the layout
(``tui.topomap``) is made by the topology pane when the namespaces shown change.
The path says which way the packet goes: the request in green, the reply in
blue; what it has travelled so far in that direction bright, what remains
dark. Yellow is the current hop only, red is a drop only (the legend in
``tui.help`` says the same).
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
CURRENT_MARK = "▶"
# (travelled, remaining) per direction; hex so no terminal theme turns them into red or yellow
REQUEST_STYLES = ("bold #5fd75f", "#3f7f3f")
REPLY_STYLES = ("bold #5fafff", "#3f6f9f")


class PathMarks:
    """Which devices and namespaces the selected packet touches, where it is now, and the culprit."""

    def __init__(self, hops: list[Hop], current: Hop | None, culprit: DevKey | None = None,
                 row: int = -1, n_request: int | None = None) -> None:
        self.culprit = culprit
        self.devices: set[DevKey] = _keys(hops)
        self.netns = {h.netns_inode for h in hops}
        self.current = (current.netns_inode, current.ifindex) if current else None
        self.current_ns = current.netns_inode if current else None
        self.dropped = {(h.netns_inode, h.ifindex) for h in hops if h.verb == Verb.DROP}
        n_req = len(hops) if n_request is None else n_request
        self.reply = row >= n_req  # the current hop is on the reply's way back
        end = len(hops) if self.reply else n_req
        self.travelled = _keys(hops[:row]) if row > 0 else set()
        self.remaining = _keys(hops[row + 1:end]) if row >= 0 else set(self.devices)
        self.travelled -= self.remaining  # on the way back, what is still ahead counts as ahead
        if self.current:
            self.travelled.add(self.current)
        self.lit, self.ahead = REPLY_STYLES if self.reply else REQUEST_STYLES

    def _path(self, *keys: DevKey) -> str | None:
        """Travelled (bright) when every end was passed, remaining (dark) when on the path at all."""
        if all(k in self.travelled for k in keys):
            return self.lit
        return self.ahead if all(k in self.devices for k in keys) else None

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
            return DROP if key in self.dropped else self._path(key)
        if kind == "ns":
            on_path = self.lit if tag[1] in self.netns else None
            return "bold yellow" if tag[1] == self.current_ns else on_path
        if kind == "wire":
            return self._path(tag[1], tag[2])
        if kind == "up":
            return self._path(tag[1])
        if kind in ("tunnel", "underlay"):
            ends = [k for k in (lay.tunnels if kind == "tunnel" else lay.uplinks) if k in self.devices]
            return self._path(*ends) if len(ends) >= 2 else None
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
            overlay[(x + 1, y)] = CURRENT_MARK
        if marks.culprit and marks.culprit in lay.devices:
            x, y = lay.devices[marks.culprit]
            overlay[(x + 1, y)] = CULPRIT_MARK
        return RichGroup(*lay.canvas.render(lambda tag: marks.style(tag, lay), overlay))


def _keys(hops: list[Hop]) -> set[DevKey]:
    return {(h.netns_inode, h.ifindex) for h in hops if h.netns_inode}
