"""The detail pane: the selected hop's headers decoded, the hooks that saw it, and why it died.

Decoding runs only for the hop under the cursor (scapy is slow); everything
shown is built as ``Text`` so packet bytes and names stay inert. A packet that
was dropped shows its diagnosis (cause, fix, checks, culprit) right under the
drop line, before the hooks and headers, so it is in view without scrolling.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group as RichGroup
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from tracer.correlate import Hop
from tracer.correlate.vocab import Verb
from tracer.diagnose import Diagnosis
from tracer.explain import action_text, explain, explain_in
from tracer.model import Event, Hook, HookMode
from tracer.render.hopdiff import HopDiff
from tracer.render.inert import inert
from tracer.topology.model import Topology
from tui.decode import decode_headers
from tui.diagnosis import detail_lines as diagnosis_lines

TEACH_STYLE = "italic green"  # the explanation's line (teaching mode)


class DetailPane(ScrollableContainer):
    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("select a hop to see its headers", style="dim"), id="detail-body")

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.lines: list[Text] = []

    def show(self, hop: Hop | None, modes: dict[Hook, HookMode], teach: str | None = None,
             diagnosis: Diagnosis | None = None, diff: HopDiff | None = None,
             topo: Topology | None = None, journey: Sequence[Hop] = ()) -> None:
        """A new hop's detail starts at its top: the headline, the change and the explanation."""
        self.lines = detail_lines(hop, modes, teach, diagnosis, diff, topo, journey)
        self.query_one("#detail-body", Static).update(RichGroup(*self.lines))
        self.scroll_home(animate=False)

    def reveal_teach(self) -> None:
        """``e`` turned teaching mode on: bring the explanation into view if it starts below it
        (a 24-line terminal shows three lines of detail)."""
        at = next((i for i, ln in enumerate(self.lines) if str(ln.style) == TEACH_STYLE), None)
        width = self.scrollable_content_region.width
        if at is None or width <= 0:
            return
        y = sum(len(ln.wrap(self.app.console, width)) for ln in self.lines[:at])
        if y >= self.scrollable_content_region.height:
            self.call_after_refresh(self.scroll_to, y=y, animate=False)


def detail_lines(hop: Hop | None, modes: dict[Hook, HookMode], teach: str | None = None,
                 diagnosis: Diagnosis | None = None, diff: HopDiff | None = None,
                 topo: Topology | None = None, journey: Sequence[Hop] = ()) -> list[Text]:
    """Headline, the drop and its diagnosis, the headers changed here, (teaching mode: the
    explanation), hooks, headers."""
    if hop is None:
        return [Text("select a hop to see its headers", style="dim")]
    head = Text(f"hop {hop.index}  ", style="bold")
    head.append(inert(f"{hop.netns} {hop.dev}"), style="bold cyan")
    head.append("  " + inert(hop.verb) + ("  (inferred)" if hop.inferred else ""))
    lines = [head]
    if not (hop.verb == Verb.DROP and hop.action.startswith("dropped:")):
        # else the red line below says the same, and more; in teaching mode in its language
        lines.append(Text(inert(action_text(hop, teach, topo) if teach else hop.action)))
    if hop.verb == Verb.DROP:
        lines.append(Text(inert(f"dropped: reason {hop.reason or '?'} at {hop.location or '?'}"),
                          style="bold red"))
    if diagnosis is not None:
        lines.extend(diagnosis_lines(diagnosis, hop, teach))
    if teach:
        # with its direction's hops (journey), as --explain: what packet, to where
        text = explain_in(hop, journey, teach, topo) if journey else explain(hop, teach, topo)
        lines.append(Text(inert(text), style=TEACH_STYLE))
    if diff is not None:
        lines.extend(Text(("Δ " if i == 0 else "  ") + inert(line), style="yellow")
                     for i, line in enumerate(diff.lines()))
    if not hop.events:
        lines.append(Text("no event of its own: deduced from the hops around it", style="dim"))
    for ev in hop.events:
        lines.append(_hook_line(ev, modes))
    with_headers = next((e for e in hop.events if e.headers), None)
    if with_headers is not None:
        lines.extend(decode_headers(with_headers.headers, with_headers.headers_l3))
    return lines


def _hook_line(ev: Event, modes: dict[Hook, HookMode]) -> Text:
    t = Text("  seen by ")
    t.append(ev.hook.label, style="bold")
    t.append(f" ({modes.get(ev.hook, '?')})", style="dim")
    t.append(inert(f"  on {ev.ifname or '-'}  cpu {ev.cpu}  len {ev.length}"))
    if ev.route is not None:
        r = ev.route
        via = f" via {r.via}" if r.via else ""
        t.append(inert(f"  table {r.table}{via} oif {r.nh_ifindex}" + (f" err {r.err}" if r.err else "")))
    if ev.hook == Hook.BR_FDB_UPDATE:
        t.append(inert(f"  learned {ev.fdb_mac}"))
    return t
