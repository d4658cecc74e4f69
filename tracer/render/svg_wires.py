"""The wires of the SVG picture: veth pairs between device rows, and the VXLAN tunnel.

Kept apart from the box layout because wires are drawn once every box is
placed: a pod's veth runs left to right into its node's bridge port; two
nodes' uplinks (or an uplink and a namespace in the right column) are joined
on a vertical lane right of the nodes, one lane per pair so lines never
merge; every VXLAN device shares one tunnel line, labelled with its VNI.
"""

from __future__ import annotations

from tracer.render.svg_geometry import DevKey, PictureLayout, Row, Wire
from tracer.topology.model import Topology

VX_LANE, FIRST_LANE, LANE = 18.0, 70.0, 14.0
LABEL_ROOM = 44.0  # right of a lane, for its label ("veth")


def _pairs(lay: PictureLayout, topo: Topology) -> list[tuple[Row, Row]]:
    """Each drawn veth pair once, the pod end (if any) first."""
    out: list[tuple[Row, Row]] = []
    seen: set[DevKey] = set()
    for key, row in lay.rows.items():
        peer = topo.peer_of(*key) if key[1] else None
        if peer is None or key in seen:
            continue
        other = lay.rows.get((peer[0].inode, peer[1].ifindex))
        if other is None:
            continue
        seen |= {key, other.key}
        out.append((other, row) if other.key in lay.right_side else (row, other))
    return out


def lanes_width(lay: PictureLayout, topo: Topology, drawn: set[int]) -> float:
    """Room right of the nodes for the tunnel and one lane per node device wired there.

    Called before the right column is placed, so pairs are counted on the
    topology: a node device whose veth peer is in a drawn namespace.
    """
    pairs: set[frozenset[DevKey]] = set()
    for key in lay.rows:
        peer = topo.peer_of(*key) if key[1] and key not in lay.right_side else None
        other = (peer[0].inode, peer[1].ifindex) if peer is not None else None
        if other is not None and other[0] in drawn and other not in lay.right_side:
            pairs.add(frozenset({key, other}))
    return FIRST_LANE + LANE * len(pairs)


def add_wires(lay: PictureLayout, topo: Topology, right: float) -> None:
    """Every wire; ``right`` is the right edge of the node boxes."""
    lane, outer = right + FIRST_LANE, 0.0
    for a, b in _pairs(lay, topo):
        if a.key in lay.right_side:  # pod → its node's bridge port
            mid = (a.rect.right + b.rect.x) / 2
            lay.wires.append(Wire(_elbow(a.rect.right, a.rect.mid_y, b.rect.x, b.rect.mid_y, mid), "veth"))
            continue
        if a.rect.x > right and b.rect.x > right:  # both in the right column: a lane beyond it
            x = max(a.rect.right, b.rect.right) + VX_LANE + outer
            points = _elbow(a.rect.right, a.rect.mid_y, b.rect.right, b.rect.mid_y, x)
            outer += LANE
            lay.width = max(lay.width, x + LABEL_ROOM)
        else:
            bx = b.rect.right if b.rect.x < right else b.rect.x
            points = _elbow(a.rect.right, a.rect.mid_y, bx, b.rect.mid_y, lane)
            lane += LANE
        lay.wires.append(Wire(points, "veth", "veth", (a.key, b.key)))
    _tunnel(lay, topo, right + VX_LANE)


def _elbow(x0: float, y0: float, x1: float, y1: float, mid: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (mid, y0), (mid, y1), (x1, y1))


def _tunnel(lay: PictureLayout, topo: Topology, x: float) -> None:
    ends: list[tuple[Row, int]] = []
    for key, row in lay.rows.items():
        ln = topo.link(*key) if key[1] else None
        if ln is not None and ln.kind == "vxlan":
            ends.append((row, ln.vxlan.vni if ln.vxlan else 0))
    if not ends:
        return
    for row, _ in ends:
        lay.wires.append(Wire(((row.rect.right, row.rect.mid_y), (x, row.rect.mid_y)), "tunnel"))
    ys = [row.rect.mid_y for row, _ in ends]
    vnis = sorted({v for _, v in ends})
    label = "VXLAN vni " + ",".join(str(v) for v in vnis)
    lay.wires.append(Wire(((x, min(ys)), (x, max(ys))), "tunnel", label))
