"""One packet's walk as a standalone SVG: the topology, the numbered path, the headers.

``brtrace export FILE --svg OUT`` draws this for a slide or a bug report, so
it must stand alone: no script, no external stylesheet or font (generic
``monospace``/``sans-serif`` families only), every colour inline. The
drawing is a pure function of the topology snapshot and the packet's hops,
so the same recording always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.render.svg_geometry import PAD, ROW, TITLE, Box, PictureLayout, Row, Wire
from tracer.render.svg_headers import header_changes
from tracer.render.svg_layout import layout_picture
from tracer.render.svg_marks import (
    COLOUR,
    DROP_COLOUR,
    REPLY,
    REQUEST,
    arrow_defs,
    draw_drop,
    draw_marks,
    draw_paths,
    drop_right,
    marks_needed,
    place_marks,
)
from tracer.render.svg_panels import Change, draw_changes, draw_hop_list, list_width
from tracer.render.svg_xml import el, group
from tracer.topology.model import Topology

BOX_STYLE = {"node": ("#eef2f8", "#5b6b82"), "pod": ("#ffffff", "#7a8aa0"), "netns": ("#f6f6f6", "#888888")}


@dataclass(frozen=True, slots=True)
class PacketPicture:
    """What to draw: a title line, a subtitle, and the packet's request and reply hops."""

    title: str
    subtitle: str
    request: tuple[Hop, ...]
    reply: tuple[Hop, ...] = ()


def changes_of(pic: PacketPicture) -> list[Change]:
    """Header changes of both directions, numbered in walk order."""
    out: list[Change] = []
    for direction, hops in ((REQUEST, pic.request), (REPLY, pic.reply)):
        for ch in header_changes(hops):
            out.append(Change(len(out) + 1, direction, ch))
    return out


def render_svg(topo: Topology, pic: PacketPicture) -> str:
    """The whole picture as an SVG document (text)."""
    need = marks_needed(topo, pic.request, pic.reply)
    inodes = {h.netns_inode for h in (*pic.request, *pic.reply) if h.netns_inode}
    lay = layout_picture(topo, inodes, need)
    marks = place_marks(lay, topo, pic.request, pic.reply)
    changes = changes_of(pic)
    width = max(lay.width, list_width(pic.request, pic.reply), drop_right(marks) + PAD)
    cards, y = draw_changes(changes, lay.height + PAD, width)
    hop_list, height = draw_hop_list(pic.request, pic.reply, y, width)
    badges = {(c.direction, c.change.hop.index): c.n for c in changes}
    body = [el("title", pic.title), el("rect", x=0, y=0, width=width, height=height, fill="#ffffff"),
            arrow_defs(), *_head(pic, width), *(_box(b) for b in lay.boxes),
            *(_wire(w) for w in lay.wires), *draw_paths(marks, lay, topo), *_rows(lay),
            *draw_marks(marks, badges),
            *draw_drop(marks), *cards, *hop_list]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">\n'
            + "\n".join(body) + "\n</svg>\n")


def _head(pic: PacketPicture, width: float) -> list[str]:
    """Title, subtitle and the legend of colours and shapes."""
    y = 38.0
    legend = [el("circle", cx=width - 300, cy=y - 4, r=6, fill=COLOUR[REQUEST]),
              el("text", "request", x=width - 290, y=y, font_size=12),
              el("rect", x=width - 226, y=y - 10, width=12, height=12, rx=2, fill=COLOUR[REPLY]),
              el("text", "reply", x=width - 210, y=y, font_size=12),
              el("text", "✕ drop", x=width - 165, y=y, font_size=12, fill=DROP_COLOUR, font_weight="bold"),
              el("text", "Δ headers change", x=width - 112, y=y, font_size=12)]
    return [el("text", pic.title, x=PAD, y=20, font_size=15, font_weight="bold", class_="title"),
            el("text", pic.subtitle, x=PAD, y=y, font_size=12, fill="#555555"),
            group(legend, class_="legend")]


def _box(b: Box) -> str:
    fill, stroke = BOX_STYLE.get(b.kind, BOX_STYLE["netns"])
    r = b.rect
    return group([el("rect", x=r.x, y=r.y, width=r.w, height=r.h, rx=8, fill=fill, stroke=stroke,
                     stroke_width=1.6 if b.kind == "node" else 1.2),
                  el("text", b.title, x=r.x + 8, y=r.y + TITLE - 8, font_size=13, font_weight="bold",
                     fill=stroke),
                  *([el("text", b.note, x=r.x + 16 + len(b.title) * 8, y=r.y + TITLE - 8, font_size=11,
                        fill="#777777")] if b.note else [])], class_=f"netns {b.kind}", data_netns=b.title)


def _rows(lay: PictureLayout) -> list[str]:
    return [_row(row) for row in lay.rows.values() if row.key[1]]


def _row(row: Row) -> str:
    r = row.rect
    # Drawn over the path with a halo: a line crossing a device's name leaves it legible.
    return el("text", row.text, x=row.text_x or r.x + PAD, y=r.y + ROW / 2 + 4, font_size=12,
              font_family="monospace", fill="#1d2733", stroke="#f4f6fa", stroke_width=4,
              stroke_opacity=0.9, paint_order="stroke", class_="device")


def _wire(w: Wire) -> str:
    d = "M " + " L ".join(f"{x:.1f} {y:.1f}" for x, y in w.points)
    tunnel = w.kind == "tunnel"
    parts = [el("path", d=d, fill="none", stroke="#9c36b5" if tunnel else "#9aa5b1",
                stroke_width=3 if tunnel else 1.5, stroke_dasharray="6 3" if tunnel else "none")]
    if w.label:
        (x0, y0), (x1, y1) = w.points[0], w.points[-1]
        mx = max(x0, x1) + 4 if len(w.points) == 2 else w.points[1][0] + 4
        my = (y0 + y1) / 2
        parts.append(el("text", w.label, x=mx, y=my, font_size=11, fill="#9c36b5" if tunnel else "#777777"))
    return group(parts, class_=f"wire {w.kind}")


__all__ = ["PacketPicture", "render_svg"]
