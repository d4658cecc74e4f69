"""The compact map: the selected packet's path in one direction, one line per namespace.

When the drawn map is wider than the pane (an 80-column terminal) it cannot
show the current hop, so this takes its place above the tree: the namespaces
in the order the packet crosses them, each with its devices in order, the
current one marked ▶, what was travelled bright and what remains dark, and
the direction (request →, reply ←) at the start of every line.
"""

from __future__ import annotations

from rich.text import Text

from tracer.correlate import Hop
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tui.widgets.map_view import CURRENT, CURRENT_MARK, DROP, PathMarks

REQUEST_ARROW, REPLY_ARROW = "→", "←"


def strip_lines(hops: list[Hop], row: int, n_request: int, marks: PathMarks) -> tuple[list[Text], int]:
    """The lines of the current direction's path, and the index of the line holding the current hop."""
    reply = row >= n_request
    part = hops[n_request:] if reply else hops[:n_request]
    cur = row - n_request if reply else row
    arrow = REPLY_ARROW if reply else REQUEST_ARROW
    runs: list[tuple[str, list[tuple[str, int]]]] = []  # (netns, [(device, index in part)])
    for i, h in enumerate(part):
        if not runs or runs[-1][0] != h.netns:
            runs.append((h.netns, []))
        devs = runs[-1][1]
        if devs and devs[-1][0] == h.dev:
            if i == cur:
                devs[-1] = (h.dev, i)  # the same device seen again: the mark goes to this hop
            continue
        devs.append((h.dev, i))
    width = max([5, *(len(inert(ns)) for ns, _ in runs)])
    lines, at = [], 0
    for n, (ns, devs) in enumerate(runs):
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{'reply' if reply else 'request'} {arrow} " if n == 0 else " " * 8 + f"{arrow} ",
                 style=marks.lit)
        t.append(f"{inert(ns):<{width}} ", style="bold yellow" if any(i == cur for _, i in devs) else "")
        for dev, i in devs:
            if i == cur:
                at = n
                t.append(CURRENT_MARK + inert(dev), style=DROP if part[i].verb == Verb.DROP else CURRENT)
            else:
                t.append(" " + inert(dev), style=marks.lit if i < cur else marks.ahead)
            t.append(" ")
        lines.append(t)
    return lines, at
