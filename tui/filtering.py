"""The filter box: a pcap-filter expression, or text in the packets' status, addresses, namespaces or devices.

A text that compiles as a pcap-filter expression (libpcap, through the
compiler the CLI injects: ``tui`` does not import ``probes``) selects the
packets any of whose events' stored headers match it, as tcpdump would on
the pcap export; ``inner EXPR`` also matches the frame inside VXLAN, as
``--inner`` does in the kernel (``tracer/pcapf/offline.py``). Any other text
is the old search over status, addresses, namespaces and devices; a text
that is neither says why in the status bar.
"""

from __future__ import annotations

from textual import on
from textual.widgets import Input

from tracer.pcapf.offline import parse_filter
from tracer.render.inert import inert
from tui.pcapmatch import matching, packet_matches
from tui.state import AppState
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList

DEBOUNCE_FROM = 5000  # packets listed from which the box waits for a pause in typing
DEBOUNCE_S = 0.3


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
        """At once on a small list; on a long one (a live flood: an expression
        re-reads the spill for light rows) once typing pauses, not per key."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        if len(self.book.packets) < DEBOUNCE_FROM:
            self.set_filter(msg.value)
        else:
            value = msg.value
            self._filter_timer = self.set_timer(DEBOUNCE_S, lambda: self.set_filter(value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, msg: Input.Submitted) -> None:
        if self._filter_timer is not None:  # Enter does not wait for the pause
            self._filter_timer.stop()
            self._filter_timer = None
            self.set_filter(msg.value)
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)  # Enter keeps the filter (and its box, to say so)
        self.query_one(PacketList).focus()

    def set_filter(self, text: str) -> None:
        """Show only the packets ``text`` selects: a pcap expression's, else the old search's."""
        self.redraw_view()  # rows ingested but not listed yet are listed by the new filter
        self.filter_text = text.strip().lower()
        self.pcap, why = parse_filter(text, self.compile_filter, self.topo)
        if self.pcap is not None:
            rows = matching(self.pcap, self.book, self.seen)
        else:
            rows = self.book.matching(self.filter_text)
        self._pcap_shown = set(rows) if self.pcap is not None else set()
        self.facts.filter_note = (f"filter selects nothing: {why}; no packet's text has it"
                                  if why and not rows else "")
        plist = self.query_one(PacketList)
        plist.set_rows(rows)
        none = bool(self.filter_text) and not plist.rows
        said = f"no packet matches {inert(text.strip())!r} — Esc clears"
        self.query_one(JourneyTable).empty = said if none else ""
        self._show_packet(plist.selected, to_last=False)
        self._show_status()

    def filter_shows(self, pid: int) -> bool:
        """Whether the filter lets packet ``pid`` (new, or changed) into the list."""
        if self.pcap is None:
            return not self.filter_text or self.filter_text in self.book.packets[pid].search_text()
        if pid in self._pcap_shown:
            return True
        p = self.book.packets[pid]
        return not p.light and packet_matches(self.pcap, p)

    def filter_new(self, new: list[int]) -> list[int]:
        """New packets the filter lets in, noted as listed: with redraws
        coalesced, a packet can be new and changed in one redraw, and
        ``filter_late`` must not list it a second time."""
        shown = [pid for pid in new if self.filter_shows(pid)]
        if self.pcap is not None:
            self._pcap_shown.update(shown)
        return shown

    def filter_late(self, touched: set[int]) -> list[int]:
        """Packets already listed as not matching that match now: a live
        packet's later crossings (its VXLAN leg) may be what the expression
        selects. Only for an expression: the old search keeps its rule."""
        if self.pcap is None:
            return []
        late = sorted(pid for pid in touched if pid not in self._pcap_shown and self.filter_shows(pid))
        self._pcap_shown.update(late)
        return late
