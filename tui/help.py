"""The help screen: every key, what it does, and how to read the map and the tables.

The footer's labels are short so every key fits 80 columns; here each key
gets its long description (the binding's tooltip). The box scrolls, so it
fits a 24-line terminal.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"slash": "/", "question_mark": "?", "right": "→", "left": "←", "escape": "Esc"}

MAP_LEGEND = "\n".join((  # one paragraph a line: the box wraps them to its width
    "Map: boxes are network namespaces (pods left, nodes middle), rows are devices. ─ lines are "
    "veth pairs and bridge ports, ═ (violet) is the VXLAN tunnel, the grey line on the right the "
    "underlay between the nodes.",
    "Green: the request's path, blue: the reply's; bright where the packet has been, dark where it "
    "is still going. Black on yellow ▶: the current hop. Red: where it was dropped (only that).",
    "A narrow terminal shows the path as lines instead: one namespace a line, → request, ← reply.",
    "",
    "Journey: ~ before a hop number means brtrace saw no event there: the hop is inferred from "
    "the hops around it (e.g. a veth crossing between two seen devices), shown dim. Δ before an "
    "action: the headers changed at this hop (routing: TTL and MACs; NAT; VXLAN outer headers "
    "added or removed); the hop detail says old → new.",
    "Packets: ✓ delivered, ✗ dropped, ? unanswered, … in flight.",
    "",
    "Step playback (replay --step): → or space shows the next hop, ← the previous; with "
    "--step-ms N a timer steps and space stops and restarts it.",
    "Filter: / and type; Esc clears it. Mouse: click a packet or a hop. Ctrl+P: command palette.",
))


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: list[BindingType]) -> None:
        super().__init__()
        self._keys = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("brtrace keys\n\n", style="bold")
        for b in self._keys:
            keys = KEY_NAMES.get(b.key, b.key)
            text.append(f"  {keys:<8}", style="bold cyan")
            text.append(f"{b.tooltip or b.description or b.action}\n")
        text.append("\n" + MAP_LEGEND)
        with VerticalScroll(id="help-box"):
            yield Static(text)
