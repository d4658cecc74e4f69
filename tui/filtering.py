"""The filter box: show only packets whose status, addresses, namespaces or devices match."""

from __future__ import annotations

from textual import on
from textual.widgets import Input

from tui.state import AppState
from tui.widgets.packet_list import PacketList


class Filtering(AppState):
    """``/`` opens the box; typing filters at once; Escape or Enter hands focus back."""

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.display = bool(box.value)
            self.query_one(PacketList).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, msg: Input.Changed) -> None:
        self.set_filter(msg.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, msg: Input.Submitted) -> None:
        self.action_close_filter()

    def set_filter(self, text: str) -> None:
        """Show only packets whose status, addresses, namespaces or devices contain ``text``."""
        self.redraw_view()  # rows ingested but not listed yet are listed by the new filter
        self.filter_text = text.strip().lower()
        plist = self.query_one(PacketList)
        plist.set_rows(self.book.matching(self.filter_text))
        self._show_packet(plist.selected, to_last=False)
