"""Which packet and hop are shown: the journey pane, the map's marks, the detail pane.

The map and the detail are redrawn once per (packet, hop, hop count, status)
shown, never per message: decoding headers with scapy is the slow part of a
frame. A packet that did not arrive brings its diagnosis to the detail pane,
the status line and the map (the culprit device).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.widgets import DataTable

from tracer.correlate import Hop
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tui.diagnosis import culprit_key, status_text
from tui.state import AppState
from tui.widgets.detail import DetailPane
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList
from tui.widgets.topology import TopologyPane


class Selection(AppState):
    """Packet and hop selection, following the newest packet, and teaching mode."""

    @on(PacketList.Highlighted)
    def _packet_highlighted(self, msg: PacketList.Highlighted) -> None:
        if msg.pid != self.query_one(PacketList).selected or msg.pid == self.query_one(JourneyTable).pid:
            return  # stale (following moved on) or shown by the redraw already: showing it
            # again, rebuilt from the spill once it is light, would only repeat the work
        self._show_packet(msg.pid, to_last=self.facts.follow)

    def _show_packet(self, pid: int | None, to_last: bool) -> None:
        table = self.query_one(JourneyTable)
        p = self.rows.full(pid)  # a light row's hops are rebuilt from the spill
        table.show(p, keep_row=not to_last)
        if to_last and table.hops:
            table.move_cursor(row=len(table.hops) - 1, animate=False)
        self._show_hop()

    @on(DataTable.RowHighlighted, "#journey")
    def _hop_highlighted(self, msg: DataTable.RowHighlighted) -> None:
        self._show_hop()

    def _show_hop(self) -> None:
        """Mark the map and decode the detail, once per (packet, hop, hop count) shown."""
        table = self.query_one(JourneyTable)
        hop = table.current
        p = self.book.packets.get(table.pid) if table.pid is not None else None
        shown = (table.pid, table.cursor_row, len(table.hops), p.status if p else "")
        if shown == self._last_hop:
            return
        self._last_hop = shown
        d = self.diagnoses.get(p)
        self.query_one(TopologyPane).mark(table.hops, hop, self._caption(hop), culprit_key(d),
                                          table.cursor_row, table.n_request)
        side = (p.request if table.cursor_row < len(p.request) else p.reply) if p else ()
        self.query_one(DetailPane).show(hop, self.hook_modes, self.teach, d, table.current_diff,
                                        self.book.topo, side)
        self.facts.diagnosis = status_text(d, self.teach)
        self._show_status()

    def _caption(self, hop: Hop | None) -> Text:
        table = self.query_one(JourneyTable)
        p = self.rows.full(table.pid)
        if p is None or hop is None:
            return Text("no packet selected", style="dim")
        n_req = len(p.request)
        row = table.cursor_row
        direction = "request →" if row < n_req else "reply ←"
        n = n_req if row < n_req else len(p.reply)
        t = Text(inert(f"#{p.pid} {p.what}  "), style="bold", no_wrap=True, overflow="ellipsis")
        t.append(f"{direction} hop {hop.index}/{n}  ")
        t.append(inert(f"{hop.netns} {hop.dev}"), style="bold yellow")
        t.append("  " + inert(hop.verb), style="red bold" if hop.verb == Verb.DROP else "")
        return t

    def action_toggle_explain(self) -> None:
        """Teaching mode: each hop's detail starts with what the kernel did, in the seeds' terms."""
        self.teach = None if self.teach else self.lang
        self.facts.teach = self.teach or ""  # in the status line: a toast would cover it
        self._last_hop = None
        self._show_hop()
        if self.teach:
            self.query_one(DetailPane).reveal_teach()

    def action_next_packet(self) -> None:
        self._move_packet(1)

    def action_prev_packet(self) -> None:
        self._move_packet(-1)

    def _move_packet(self, delta: int) -> None:
        self.facts.follow = False
        plist = self.query_one(PacketList)
        plist.select_index(plist.cursor + delta)
        self._show_status()

    def action_step(self, delta: int) -> None:
        self.facts.follow = False
        table = self.query_one(JourneyTable)
        if table.hops:
            table.move_cursor(row=max(0, min(len(table.hops) - 1, table.cursor_row + delta)))
        self._show_status()

    def action_toggle_follow(self) -> None:
        self.facts.follow = not self.facts.follow
        plist = self.query_one(PacketList)
        if self.facts.follow and plist.rows:
            plist.select_index(len(plist.rows) - 1)
            self._show_packet(plist.selected, to_last=True)
        self._show_status()
