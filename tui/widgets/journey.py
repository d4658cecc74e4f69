"""The journey pane: the selected packet's hops as an mtr-like table.

A journey has tens of hops, so a DataTable rebuilt when *the selected*
packet changes is cheap; it never rebuilds for packets nobody is looking at.
Columns put the long action text last so that Δt and t stay visible on a
narrow terminal. Cells are ``Text`` objects: names cannot act as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tracer.correlate import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tracer.render.text import fmt_ns

REQUEST, REPLY = "→", "←"


class JourneyTable(DataTable[Text]):
    """Request hops then reply hops; row keys are ``q<n>`` / ``r<n>``."""

    def __init__(self, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)  # type: ignore[arg-type]
        self.hops: list[Hop] = []
        self.pid: int | None = None

    def _columns(self, hops: list[Hop]) -> None:
        """Columns re-made per packet with explicit widths: auto widths only ever grow."""
        w_ns = max([5, *(len(inert(h.netns)) for h in hops)])
        w_dev = max([6, *(len(inert(h.dev)) for h in hops)])
        for label, key, width in (("#", "n", 3), ("", "dir", 1), ("netns", "ns", w_ns),
                                  ("device", "dev", w_dev), ("Δt", "dt", 8), ("t", "t", 8),
                                  ("action", "act", None)):
            self.add_column(label, key=key, width=width)

    def show(self, p: Packet | None, keep_row: bool = True) -> None:
        """Fill the table with ``p``'s hops; keeps the cursor row when the packet is the same."""
        row = self.cursor_row if keep_row and p is not None and p.pid == self.pid else 0
        self.clear(columns=True)
        self.pid = p.pid if p else None
        self.hops = list(p.request + p.reply) if p else []
        self._columns(self.hops)
        if p is None:
            return
        t0 = p.t0
        for direction, hops in ((REQUEST, p.request), (REPLY, p.reply)):
            prev = hops[0].t_ns if hops else t0
            for h in hops:
                key = f"{'q' if direction == REQUEST else 'r'}{h.index}"
                self.add_row(*hop_cells(h, direction, h.t_ns - prev, h.t_ns - t0), key=key)
                prev = h.t_ns
        if self.hops:
            self.move_cursor(row=min(row, len(self.hops) - 1), animate=False)

    @property
    def current(self) -> Hop | None:
        return self.hops[self.cursor_row] if 0 <= self.cursor_row < len(self.hops) else None


def hop_cells(h: Hop, direction: str, dt: int, t: int) -> list[Text]:
    """One hop's cells; a dropped hop in red with its reason and location."""
    drop = h.verb == Verb.DROP
    style = "bold red" if drop else ("dim" if h.inferred else "")
    action = h.action
    if drop:
        action += f" [reason {h.reason or '?'}, at {h.location or '?'}]"
    mark = "~" if h.inferred else ""
    return [Text(f"{mark}{h.index}", style=style, justify="right"), Text(direction, style=style),
            Text(inert(h.netns), style=style), Text(inert(h.dev), style=style),
            Text(fmt_ns(dt), style=style, justify="right"),
            Text(fmt_ns(t), style=style, justify="right"), Text(inert(action), style=style)]
