"""The journey pane: the selected packet's hops as an mtr-like table.

A journey has tens of hops, so a DataTable rebuilt when *the selected*
packet changes is cheap; it never rebuilds for packets nobody is looking at.
The action text is what a reader needs most, so it always gets a column
sized to the pane: on a narrow terminal Δt and then t give way, never the
action (the detail pane below repeats it whole). A hop where the headers
changed (routing, NAT, VXLAN) starts its action with Δ. Cells are ``Text``
objects: names cannot act as markup.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import DataTable

from tracer.correlate import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Verb
from tracer.render.hopdiff import HopDiff, hop_diffs
from tracer.render.inert import inert
from tracer.render.text import fmt_dt, fmt_ns
from tui.widgets.keys import STEP_KEYS

REQUEST, REPLY = "→", "←"
DIFF_MARK = "Δ "
MIN_ACTION = 30  # columns the action keeps before Δt, then t, give way
OPTIONAL = ("dt", "t")  # dropped in this order when the pane is narrow
PAD = 2  # a DataTable cell's padding, one each side

Column = tuple[str, str, int | None]  # label, key, width (None: as wide as the longest cell)


class JourneyTable(DataTable[Text]):
    """Request hops then reply hops; row keys are ``q<n>`` / ``r<n>``."""

    BINDINGS: ClassVar[list[BindingType]] = STEP_KEYS

    def __init__(self, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)  # type: ignore[arg-type]
        self.hops: list[Hop] = []
        self.pid: int | None = None
        self.n_request = 0
        self.diffs: list[HopDiff | None] = []  # by row: the headers that changed at that hop
        self.empty = ""  # said in the table when there is no packet (a filter matching nothing)
        self._packet: Packet | None = None
        self._width = 0

    def plan(self, hops: list[Hop], width: int) -> list[Column]:
        """The columns that fit ``width``: Δt and t go first; the action takes what is left."""
        w_ns = max([5, *(len(inert(h.netns)) for h in hops)])
        w_dev = max([6, *(len(inert(h.dev)) for h in hops)])
        cols: list[Column] = [("#", "n", 3), ("", "dir", 1), ("netns", "ns", w_ns),
                              ("device", "dev", w_dev), ("Δt", "dt", 8), ("t", "t", 8)]
        if width <= 0:  # not laid out yet: every column, the action as long as it is
            return [*cols, ("action", "act", None)]
        avail = width - 2  # the vertical scrollbar
        def room() -> int:
            return avail - sum((w or 0) + PAD for _, _, w in cols) - PAD

        for key in OPTIONAL:
            if room() >= MIN_ACTION:
                break
            cols = [c for c in cols if c[1] != key]
        if room() < MIN_ACTION:  # still narrow: the direction arrow moves into the # column ("→12")
            cols = [("#", "n", 4) if c[1] == "n" else c for c in cols if c[1] != "dir"]
        used = sum((w or 0) + PAD for _, _, w in cols) + PAD
        return [*cols, ("action", "act", max(12, avail - used))]

    def show(self, p: Packet | None, keep_row: bool = True) -> None:
        """Fill the table with ``p``'s hops; keeps the cursor row when the packet is the same."""
        row = self.cursor_row if keep_row and p is not None and p.pid == self.pid else 0
        self.clear(columns=True)
        self._packet, self._width = p, self.size.width
        self.pid = p.pid if p else None
        self.hops = list(p.request + p.reply) if p else []
        self.n_request = len(p.request) if p else 0
        self.diffs = []
        if p is None and self.empty:  # a filter's miss is said across the whole pane
            self.add_column("", key="empty", width=max(10, self.size.width - 4))
            self.add_row(Text(self.empty, style="bold yellow"), key="empty")
            return
        cols = self.plan(self.hops, self.size.width)
        for label, key, width in cols:
            self.add_column(label, key=key, width=width)
        keys = [key for _, key, _ in cols]
        if p is None:
            return
        for direction, hops in ((REQUEST, p.request), (REPLY, p.reply)):
            diffs = hop_diffs(hops)
            t0 = prev = hops[0].t_ns if hops else p.t0  # t restarts with the reply, as in --plain
            for h in hops:
                key = f"{'q' if direction == REQUEST else 'r'}{h.index}"
                diff = diffs.get(h.index)
                self.diffs.append(diff)
                cells = hop_cells(h, direction, h.t_ns - prev, h.t_ns - t0, diff is not None)
                if "dir" not in keys:
                    cells["n"] = Text(direction, style=cells["n"].style, justify="right") + cells["n"]
                self.add_row(*(cells[k] for k in keys), key=key)
                prev = h.t_ns
        if self.hops:
            self.move_cursor(row=min(row, len(self.hops) - 1), animate=False)

    def on_resize(self) -> None:
        """Re-plan the columns for the new width (the packet and the cursor stay)."""
        if self.size.width != self._width and self._packet is not None:
            self.show(self._packet)

    @property
    def current(self) -> Hop | None:
        return self.hops[self.cursor_row] if 0 <= self.cursor_row < len(self.hops) else None

    @property
    def current_diff(self) -> HopDiff | None:
        return self.diffs[self.cursor_row] if 0 <= self.cursor_row < len(self.diffs) else None


def hop_cells(h: Hop, direction: str, dt: int, t: int, changed: bool = False) -> dict[str, Text]:
    """One hop's cells by column key; a dropped hop in red with its reason and location."""
    drop = h.verb == Verb.DROP
    style = "bold red" if drop else ("dim" if h.inferred else "")
    action = h.action
    if drop:
        action += f" [reason {h.reason or '?'}, at {h.location or '?'}]"
    mark = "~" if h.inferred else ""
    act = Text(style=style, no_wrap=True, overflow="ellipsis")
    if changed:
        act.append(DIFF_MARK, style="bold yellow")
    act.append(inert(action))
    return {"n": Text(f"{mark}{h.index}", style=style, justify="right"), "dir": Text(direction, style=style),
            "ns": Text(inert(h.netns), style=style), "dev": Text(inert(h.dev), style=style),
            "dt": Text(fmt_dt(h, dt), style=style, justify="right"),
            "t": Text(fmt_ns(t), style=style, justify="right"), "act": act}
