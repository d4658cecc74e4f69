"""``export --html``: the SVG picture of one packet and its hop table, in one standalone page.

The page is what a bug report links to: the picture on top, every hop as a
table row under it (the same columns as the TUI's journey pane), no script
and nothing fetched from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tracer.render.svg import PacketPicture, render_svg
from tracer.render.svg_marks import ARROW, REPLY, REQUEST
from tracer.render.svg_panels import full_action
from tracer.render.text import fmt_dt, fmt_ns
from tracer.topology.model import Topology

STYLE = """body { font-family: sans-serif; margin: 1.5em; color: #1d2733; }
table { border-collapse: collapse; font-family: monospace; font-size: 12px; margin-top: 1em; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #e3e7ec; vertical-align: top;
  white-space: nowrap; }
td:last-child { white-space: normal; }
td.num { text-align: right; }
tr.request td.dir { color: #1c64c8; } tr.reply td.dir { color: #e0561b; }
tr.drop td { color: #d40000; font-weight: bold; }
.picture svg { max-width: 100%; height: auto; }"""

COLUMNS = ("", "#", "netns", "device", "what", "Δt", "t", "action")


def _cell(text: str, cls: str = "") -> str:
    return f'<td{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>{escape(inert(text))}</td>'


def _rows(direction: str, hops: Sequence[Hop], t0: int) -> list[str]:
    out: list[str] = []
    prev = hops[0].t_ns if hops else t0
    for h in hops:
        action = full_action(h)
        cls = f"{direction} drop" if h.verb == Verb.DROP else direction
        cells = [_cell(ARROW[direction], "dir"), _cell(str(h.index), "num"), _cell(h.netns), _cell(h.dev),
                 _cell(h.verb), _cell(fmt_dt(h, h.t_ns - prev), "num"), _cell(fmt_ns(h.t_ns - t0), "num"),
                 _cell(action)]
        out.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
        prev = h.t_ns
    return out


def hop_table(pic: PacketPicture) -> str:
    """Request then reply hops; times from the packet's first hop."""
    first = pic.request or pic.reply
    t0 = first[0].t_ns if first else 0
    head = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in COLUMNS) + "</tr>"
    rows = _rows(REQUEST, pic.request, t0) + _rows(REPLY, pic.reply, t0)
    return '<table class="hops">\n' + head + "\n" + "\n".join(rows) + "\n</table>"


def render_html(topo: Topology, pic: PacketPicture) -> str:
    svg = render_svg(topo, pic).split("\n", 1)[1]  # inline: without the XML declaration
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(inert(pic.title))}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
            f'<div class="picture">\n{svg}</div>\n{hop_table(pic)}\n</body>\n</html>\n')
