"""Step playback: one hop at a time, on → (or space), or every N ms (``replay --step [--step-ms N]``).

``--speed`` scales recorded time, and a recording's hops are microseconds
apart while its probes are a second apart, so nobody can watch a packet walk
at any speed. Stepping moves the journey's cursor instead: the next hop of
the selected packet, then the first hop of the next packet; the map, the
detail (with the headers that changed at that hop) and the caption follow as
they do for ``j``. With ``--step-ms`` a timer presses → for you and space
stops and restarts it.
"""

from __future__ import annotations

from textual.timer import Timer

from tui.state import AppState
from tui.widgets.journey import JourneyTable
from tui.widgets.packet_list import PacketList


class Playback(AppState):
    """The → / ← keys (always), space and the timer (in step mode)."""

    step_ms: int | None  # --step-ms: the timer's period, None = on a key press
    stepping: bool  # --step: space steps (or starts and stops the timer) instead of pausing
    _step_timer: Timer | None

    def start_playback(self) -> None:
        """Called once mounted: step mode starts at the first hop of the first packet."""
        if not self.stepping:
            return
        self.facts.follow = False
        if self.step_ms is not None:
            self._step_timer = self.set_interval(self.step_ms / 1000, self._auto_step)
            self.facts.step = f"every {self.step_ms} ms"
        else:
            self.facts.step = "→ next hop"

    def action_play_step(self, delta: int) -> None:
        """One hop on; past a packet's last hop, the next packet's first (back: the previous one's last)."""
        self.facts.follow = False
        table, plist = self.query_one(JourneyTable), self.query_one(PacketList)
        row = table.cursor_row + delta
        if table.hops and 0 <= row < len(table.hops):
            table.move_cursor(row=row, animate=False)
        elif 0 <= plist.cursor + delta < len(plist.rows):
            plist.select_index(plist.cursor + delta)
            self._show_packet(plist.selected, to_last=delta < 0)  # back: the previous one's last hop
        elif self.facts.done:  # before the recording is loaded there is simply nothing yet
            self._at_end()
        self._show_status()

    def _at_end(self) -> None:
        if self._step_timer is not None:
            self._step_timer.pause()
            self.facts.step = "at the end"

    def _auto_step(self) -> None:
        """The timer's press of →, once the whole recording is in (it loads at once, in a second)."""
        if self.facts.done:
            self.action_play_step(1)

    def step_space(self) -> None:
        """Space in step mode: the next hop, or stop / restart the timer."""
        timer = self._step_timer
        if timer is None:
            self.action_play_step(1)
            return
        if self.facts.step.startswith("every"):
            timer.pause()
            self.facts.step = "stopped"
        else:
            timer.resume()
            self.facts.step = f"every {self.step_ms} ms"
        self._show_status()
