"""The packet on the picture: numbered hop markers, the path between them, the drop.

Request hops are blue circles, reply hops orange squares, each numbered as in
the hop table; lines with arrowheads join them in order, so the walk reads
without the table. Markers sit on their device's row, side by side in hop
order, in the room :mod:`tracer.render.svg_layout` kept for them (``need``).
A hop whose device is not a drawn row sits on its namespace's title bar.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tracer.render.svg_geometry import MARK, DevKey, PictureLayout, Point
from tracer.render.svg_xml import el, group, titled
from tracer.topology.model import Topology

REQUEST, REPLY = "request", "reply"
COLOUR = {REQUEST: "#1c64c8", REPLY: "#e0561b"}
DROP_COLOUR = "#d40000"
ARROW = {REQUEST: "→", REPLY: "←"}
R = 9.0  # marker radius


@dataclass(frozen=True, slots=True)
class Mark:
    hop: Hop
    direction: str
    x: float
    y: float


def place_key(topo: Topology, h: Hop) -> DevKey:
    """The device row a hop belongs on, or its namespace (ifindex 0) when not a drawn device."""
    ln = topo.link(h.netns_inode, h.ifindex) if h.ifindex else None
    return (h.netns_inode, h.ifindex) if ln is not None and ln.kind != "loopback" else (h.netns_inode, 0)


def marks_needed(topo: Topology, request: Sequence[Hop], reply: Sequence[Hop]) -> Counter[DevKey]:
    return Counter(place_key(topo, h) for h in (*request, *reply))


def place_marks(lay: PictureLayout, topo: Topology, request: Sequence[Hop],
                reply: Sequence[Hop]) -> list[Mark]:
    """A marker position for every hop that has a place on the picture, in walk order."""
    used: Counter[DevKey] = Counter()
    out: list[Mark] = []
    for direction, hops in ((REQUEST, request), (REPLY, reply)):
        for h in hops:
            row = lay.place(place_key(topo, h))
            if row is None:
                continue
            slot = used[row.key]
            used[row.key] += 1
            out.append(Mark(h, direction, row.lane_x + slot * MARK + MARK / 2, row.rect.mid_y))
    return out


def hop_label(direction: str, h: Hop) -> str:
    """How a hop is named on the picture and in its list: ``→3 node1/veth-pod-a veth-cross``."""
    return f"{ARROW[direction]}{h.index} {h.netns}/{h.dev} {h.verb}"


def _route(a: Mark, b: Mark, lay: PictureLayout, topo: Topology) -> list[Point]:
    """From marker ``a`` to ``b``: along the veth wire between two nodes, else straight.

    Between nodes the straight line would cut through both node boxes; a pod's
    short wire into its node is left straight, as following it would strike
    through the port's name. Request and reply run a few pixels apart.
    """
    shift = -2.5 if a.direction == REQUEST else 2.5
    ka, kb = place_key(topo, a.hop), place_key(topo, b.hop)
    for w in lay.wires:
        pts = w.between(ka, kb) if w.label else None
        if pts is not None:
            return [(a.x, a.y), *((x + shift, y + shift) for x, y in pts), (b.x, b.y)]
    return [(a.x, a.y), (b.x, b.y)]


def draw_paths(marks: Sequence[Mark], lay: PictureLayout, topo: Topology) -> list[str]:
    """One line per step of each direction, with an arrowhead, under the markers."""
    out: list[str] = []
    for direction in (REQUEST, REPLY):
        pts = [m for m in marks if m.direction == direction]
        for a, b in zip(pts, pts[1:], strict=False):
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in _route(a, b, lay, topo))
            out.append(el("polyline", points=line, fill="none", stroke=COLOUR[direction],
                          stroke_width=2.2, stroke_opacity=0.75, marker_end=f"url(#arrow-{direction})",
                          class_=f"path {direction}"))
    return out


def draw_marks(marks: Sequence[Mark], badges: dict[tuple[str, int], int]) -> list[str]:
    """The numbered markers; ``badges`` maps (direction, hop index) to a header-change number."""
    out: list[str] = []
    for m in marks:
        colour = DROP_COLOUR if m.hop.verb == Verb.DROP else COLOUR[m.direction]
        if m.direction == REQUEST:
            shape = titled("circle", _tip(m), cx=m.x, cy=m.y, r=R, fill=colour)
        else:
            shape = titled("rect", _tip(m), x=m.x - R, y=m.y - R, width=2 * R, height=2 * R, rx=3,
                           fill=colour)
        parts = [shape, el("text", str(m.hop.index), x=m.x, y=m.y + 4, fill="#ffffff",
                           font_size=10.5, text_anchor="middle", font_weight="bold")]
        n = badges.get((m.direction, m.hop.index))
        if n is not None:  # request badges above the marker, reply badges below
            y = m.y - R - 1 if m.direction == REQUEST else m.y + R + 9
            parts.append(el("text", f"Δ{n}", x=m.x + R - 2, y=y, font_size=10,
                            fill="#333333", class_="delta"))
        out.append(group(parts, class_=f"hop {m.direction}", data_hop=hop_label(m.direction, m.hop)))
    return out


def _tip(m: Mark) -> str:
    return f"{hop_label(m.direction, m.hop)}: {m.hop.action}"


def drop_text(h: Hop) -> str:
    return f"DROP {h.reason or '?'} at {h.location or '?'}"


def drop_right(marks: Sequence[Mark]) -> float:
    """How far right the drop labels reach (the picture must be at least that wide)."""
    return max([m.x + R + 9 + len(inert(drop_text(m.hop))) * 7.6 for m in marks if m.hop.verb == Verb.DROP],
               default=0.0)


def draw_drop(marks: Sequence[Mark]) -> list[str]:
    """A red cross over the hop where the packet died, with the kernel's reason beside it."""
    out: list[str] = []
    for m in marks:
        if m.hop.verb != Verb.DROP:
            continue
        d = R + 5
        why = drop_text(m.hop)
        out.append(group([
            el("line", x1=m.x - d, y1=m.y - d, x2=m.x + d, y2=m.y + d, stroke=DROP_COLOUR, stroke_width=4),
            el("line", x1=m.x - d, y1=m.y + d, x2=m.x + d, y2=m.y - d, stroke=DROP_COLOUR, stroke_width=4),
            el("text", why, x=m.x + d + 4, y=m.y + d + 10, fill=DROP_COLOUR, font_size=12,
               font_weight="bold", font_family="sans-serif"),
        ], class_="drop-mark"))
    return out


def arrow_defs() -> str:
    """Arrowheads, one per direction colour."""
    heads = [f'<marker id="arrow-{d}" viewBox="0 0 10 10" refX="19" refY="5" markerWidth="7" '
             f'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
             f'fill="{c}"/></marker>' for d, c in COLOUR.items()]
    return "<defs>" + "".join(heads) + "</defs>"
