"""The filter box: show only packets whose status, addresses, namespaces or devices match."""

from __future__ import annotations

from textual import on
from textual.widgets import Input

from tracer.render.inert import inert
from tui.state import AppState
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList


class Filtering(AppState):
    """``/`` opens the box; typing filters at once; Enter hands focus back, Escape clears it."""

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        """Escape: clear the filter (from the box or from the lists) and close the box."""
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""  # Input.Changed re-shows every packet
            self.set_filter("")
        box.display = False
        self.query_one(PacketList).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, msg: Input.Changed) -> None:
        self.set_filter(msg.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, msg: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)  # Enter keeps the filter (and its box, to say so)
        self.query_one(PacketList).focus()

    def set_filter(self, text: str) -> None:
        """Show only packets whose status, addresses, namespaces or devices contain ``text``."""
        self.filter_text = text.strip().lower()
        plist = self.query_one(PacketList)
        plist.set_rows(self.book.matching(self.filter_text))
        none = bool(self.filter_text) and not plist.rows
        said = f"no packet matches {inert(text.strip())!r} — Esc clears"
        self.query_one(JourneyTable).empty = said if none else ""
        self._show_packet(plist.selected, to_last=False)
