"""The packet list: a virtual, line-rendered list that stays fast at 100k rows.

textual's DataTable measures every row when it lays out (7 s of first paint
and 80 ms per cursor move at 100k rows, measured while building this), so
this list follows toolong's approach instead: a ScrollView whose
``render_line`` draws only the visible rows from fixed-width columns. Adding
rows is an append plus a virtual-size change; a frame costs the rows on
screen, not the rows in the list.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status
from tracer.render.inert import inert
from tracer.render.text import fmt_ns
from tui.widgets.keys import STEP_KEYS

STATUS_STYLE = {Status.DELIVERED: Style(color="green"), Status.DROPPED: Style(color="red", bold=True),
                Status.UNANSWERED: Style(color="yellow"), Status.IN_FLIGHT: Style(color="cyan")}
CURSOR = Style(bgcolor="#264f78", bold=True)
CURSOR_BLUR = Style(bgcolor="#3a3a3a")
HEADER = f"{'#':>5} {'status':<10} {'rtt':>8}  packet"
COMPACT_HEADER = f"{'#':>3} {'':1} packet"
STATUS_MARK = {Status.DELIVERED: "✓", Status.DROPPED: "✗", Status.UNANSWERED: "?", Status.IN_FLIGHT: "…"}


def header(compact: bool) -> str:
    """The column names above the list (``compact``: a narrow terminal's columns)."""
    return COMPACT_HEADER if compact else HEADER


class PacketList(ScrollView, can_focus=True):
    """Every packet with its status and RTT; the cursor row is the selected packet."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "cursor(1)", "down", show=False),
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        *STEP_KEYS,
    ]

    class Highlighted(Message):
        """The cursor moved onto packet ``pid`` (by key, mouse or program)."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    def __init__(self, packets: Mapping[int, Packet], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.packets = packets
        self.rows = array("i")  # the listed packets' numbers: 4 bytes a row, not an int object
        self.cursor = -1
        self.compact = False  # a narrow terminal: status as one mark, no RTT, so "what" stays readable

    # ---- content -------------------------------------------------------

    def append(self, pids: list[int]) -> None:
        """New packets at the end; only the virtual size changes."""
        self.rows.extend(pids)
        self.virtual_size = Size(self.size.width, len(self.rows))
        self.refresh()

    def set_rows(self, pids: list[int]) -> None:
        """Replace the list (a filter changed); keeps the selected packet if it is still there."""
        keep = self.selected
        self.rows = array("i", pids)
        self.virtual_size = Size(self.size.width, len(self.rows))
        kept = keep is not None and keep in self.rows
        self.cursor = self.rows.index(keep) if kept and keep is not None else (0 if self.rows else -1)
        self._scroll_to_cursor()
        self.refresh()

    def changed(self, pids: set[int]) -> None:
        """Some packets' status or RTT changed: repaint if any is on screen."""
        top = int(self.scroll_y)
        if any(pid in pids for pid in self.rows[top:top + self.size.height]):
            self.refresh()

    @property
    def selected(self) -> int | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # ---- cursor --------------------------------------------------------

    def select_index(self, index: int) -> None:
        """Move the cursor (clamped) and announce the packet under it."""
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        if index == self.cursor:
            return
        self.cursor = index
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.rows[index]))

    def select_pid(self, pid: int) -> None:
        if pid in self.rows:
            self.select_index(self.rows.index(pid))

    def action_cursor(self, delta: int) -> None:
        self.select_index(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.select_index(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        self.select_index(len(self.rows) - 1 if where < 0 else 0)

    def _scroll_to_cursor(self) -> None:
        top, h = int(self.scroll_y), max(1, self.size.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False)

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self.select_index(int(self.scroll_y) + event.y)

    # ---- drawing -------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.size.width
        if not 0 <= index < len(self.rows):
            return Strip.blank(width)
        p = self.packets[self.rows[index]]
        segs = compact_segments(p) if self.compact else row_segments(p)
        strip = Strip(segs).crop_extend(0, width, None)
        if index == self.cursor:
            strip = strip.apply_style(CURSOR if self.has_focus else CURSOR_BLUR)
        return strip

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


def row_segments(p: Packet) -> list[Segment]:
    """One packet as fixed-width columns; every value is plain text (inert)."""
    rtt = fmt_ns(p.rtt_ns) if p.rtt_ns is not None else "-"
    route = f"  {p.src} → {p.dst}" if p.src or p.dst else ""
    return [
        Segment(f"{p.pid:>5} "),
        Segment(f"{p.status:<10}", STATUS_STYLE.get(p.status)),
        Segment(f" {rtt:>8}  "),
        Segment(inert(p.what + route)),
    ]


def compact_segments(p: Packet) -> list[Segment]:
    """One packet in a narrow pane: number, a status mark in its colour, what (RTT is in the detail)."""
    route = f"  {p.src} → {p.dst}" if p.src or p.dst else ""
    return [
        Segment(f"{p.pid:>3} "),
        Segment(STATUS_MARK.get(p.status, "·"), STATUS_STYLE.get(p.status)),
        Segment(" " + inert(p.what + route)),
    ]
