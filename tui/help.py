"""The help screen: every key, what it does, and how to read the map."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

MAP_LEGEND = (
    "Map: boxes are network namespaces (pods left, nodes middle), rows are devices.\n"
    "─ lines are veth pairs and bridge ports, ═ is the VXLAN tunnel, the right line the underlay.\n"
    "Green: the selected packet's path.  Yellow ▶: the current hop.  Red: where it was dropped.\n"
    "Mouse: click a packet or a hop.  Ctrl+P: command palette."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: list[BindingType]) -> None:
        super().__init__()
        self._keys = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("brtrace keys\n\n", style="bold")
        for b in self._keys:
            keys = b.key.replace("slash", "/").replace("question_mark", "?").replace("space", "space")
            text.append(f"  {keys:<8}", style="bold cyan")
            text.append(f"{b.description or b.action}\n")
        text.append("\n" + MAP_LEGEND)
        with Vertical(id="help-box"):
            yield Static(text)
