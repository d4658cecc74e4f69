"""Where everything sits on the SVG picture of one packet: boxes, device rows, wires.

The same grouping as the TUI map (:mod:`tracer.topology.groups`): a node is a
box holding its pods (boxes of their own, on the left) and its own devices
(rows, on the right); veth pairs are wires between device rows; the VXLAN
devices of all nodes share one tunnel line; the rest stands in a column on
the right. Sizes are in pixels for a 12 px monospace font, which every
browser has (the SVG must stand alone, so no web font). Each row keeps room
for the hop markers that will sit on it (``need``), so markers never
overlap the device text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracer.render.inert import inert
from tracer.render.svg_geometry import CH, MARK, PAD, ROW, TITLE, TOP, Box, DevKey, PictureLayout, Rect, Row
from tracer.render.svg_wires import LABEL_ROOM, add_wires, lanes_width
from tracer.topology.groups import Group, device_text, group_namespaces, map_links
from tracer.topology.model import Netns, Topology

GAP = 64.0  # between pods and their node's devices: room for the veth wires


def _lanes(ns: Netns, need: Mapping[DevKey, int]) -> float:
    keys = [(ns.inode, 0), *((ns.inode, ln.ifindex) for ln in ns.links)]
    return max(need.get(k, 0) for k in keys) * MARK


def _text_w(topo: Topology, ns: Netns) -> float:
    longest = max([len(inert(ns.label)) + 2, *(len(device_text(topo, ns, ln)) for ln in map_links(ns))])
    return longest * CH


def _ns_width(topo: Topology, ns: Netns, need: Mapping[DevKey, int]) -> float:
    return PAD + _text_w(topo, ns) + PAD + _lanes(ns, need) + PAD


def _rows_height(ns: Netns) -> float:
    return TITLE + len(map_links(ns)) * ROW + PAD / 2


def _add_rows(lay: PictureLayout, topo: Topology, ns: Netns, x: float, y: float, w: float,
              text_w: float, lanes_first: float = 0.0) -> None:
    """The device rows of ``ns`` from (x, y), and its title bar as a marker place.

    Markers go right of the text, or (``lanes_first``: their width) before it,
    for a box wired from its left, so the path does not strike through the text.
    """
    lane = x + PAD if lanes_first else x + PAD + text_w + PAD
    text_x = x + PAD + lanes_first
    lay.rows[(ns.inode, 0)] = Row((ns.inode, 0), Rect(x, y - TITLE, w, TITLE), "", lane, text_x)
    for i, ln in enumerate(map_links(ns)):
        key = (ns.inode, ln.ifindex)
        rect = Rect(x, y + i * ROW, w, ROW)
        lay.rows[key] = Row(key, rect, device_text(topo, ns, ln), lane, text_x)


def _pod_order(topo: Topology, g: Group) -> list[Netns]:
    """Pods in the order of the node ports they hang off, so their wires do not cross."""
    ports = [ln.ifindex for ln in map_links(g.node)]

    def row(pod: Netns) -> int:
        for ln in map_links(pod):
            peer = topo.peer_of(pod.inode, ln.ifindex)
            if peer and peer[0].inode == g.node.inode and peer[1].ifindex in ports:
                return ports.index(peer[1].ifindex)
        return len(ports)
    return sorted(g.pods, key=row)


@dataclass(frozen=True, slots=True)
class _Columns:
    pod_w: float
    pod_text: float
    node_w: float
    node_text: float

    @property
    def group_w(self) -> float:
        return PAD + (self.pod_w + GAP if self.pod_w else 0.0) + self.node_w + PAD


def _columns(topo: Topology, groups: list[Group], need: Mapping[DevKey, int]) -> _Columns:
    pods = [p for g in groups for p in g.pods]
    return _Columns(max([_ns_width(topo, p, need) for p in pods], default=0.0),
                    max([_text_w(topo, p) for p in pods], default=0.0),
                    max([_ns_width(topo, g.node, need) for g in groups], default=0.0),
                    max([_text_w(topo, g.node) for g in groups], default=0.0))


def _group(lay: PictureLayout, topo: Topology, g: Group, y: float, cols: _Columns, hidden: int) -> float:
    """One node box with its pods inside (``hidden`` more not drawn); returns its height."""
    x_dev = PAD + PAD + (cols.pod_w + GAP if cols.pod_w else 0.0)
    _add_rows(lay, topo, g.node, x_dev, y + TITLE, cols.node_w, cols.node_text)
    lay.rows[(g.node.inode, 0)] = Row((g.node.inode, 0), Rect(PAD, y, cols.group_w, TITLE), "",
                                      x_dev + PAD + cols.node_text + PAD)
    py = y + TITLE
    for pod in _pod_order(topo, g):
        h = _rows_height(pod)
        lay.boxes.append(Box(pod.inode, inert(pod.label), Rect(PAD + PAD, py, cols.pod_w, h), "pod"))
        _add_rows(lay, topo, pod, PAD + PAD, py + TITLE, cols.pod_w, cols.pod_text)
        lay.right_side |= {(pod.inode, ln.ifindex) for ln in pod.links}
        py += h + PAD
    height = max(TITLE + len(map_links(g.node)) * ROW + PAD, py - y) + PAD
    note = f"· {hidden} other pod{'s' * (hidden > 1)} not on the path" if hidden else ""
    box = Box(g.node.inode, inert(g.node.label), Rect(PAD, y, cols.group_w, height), "node", note)
    lay.boxes.insert(0, box)
    return height


def _loose(lay: PictureLayout, topo: Topology, loose: list[Netns], x: float,
           need: Mapping[DevKey, int]) -> float:
    """Namespaces outside any node, in a column on the right, level with what they are wired to."""
    y = TOP
    for ns in sorted(loose, key=lambda n: _peer_y(lay, topo, n)):
        w, h = _ns_width(topo, ns, need), _rows_height(ns)
        peer = _peer_row(lay, topo, ns)
        y = max(y, _peer_y(lay, topo, ns) - TITLE - ROW / 2)
        lay.boxes.append(Box(ns.inode, inert(ns.label), Rect(x, y, w, h), "netns"))
        from_left = peer is not None and peer.rect.x < x  # wired in from the nodes on the left
        first = _lanes(ns, need) + PAD if from_left else 0.0
        _add_rows(lay, topo, ns, x, y + TITLE, w, _text_w(topo, ns), first)
        y += h + PAD
        lay.width = max(lay.width, x + w + PAD)
    return y


def _peer_row(lay: PictureLayout, topo: Topology, ns: Netns) -> Row | None:
    """A drawn device ``ns`` is wired to, if any."""
    for ln in ns.links:
        peer = topo.peer_of(ns.inode, ln.ifindex)
        if peer and (peer[0].inode, peer[1].ifindex) in lay.rows:
            return lay.rows[(peer[0].inode, peer[1].ifindex)]
    return None


def _peer_y(lay: PictureLayout, topo: Topology, ns: Netns) -> float:
    """The height of what ``ns`` is wired to (0 when nothing drawn yet), so its box can sit level."""
    row = _peer_row(lay, topo, ns)
    return row.rect.mid_y if row is not None else 0.0


def layout_picture(topo: Topology, inodes: set[int], need: Mapping[DevKey, int]) -> PictureLayout:
    """Lay out the groups touching ``inodes``; ``need`` = hop markers per row."""
    groups, loose = group_namespaces(topo, inodes or None)
    hidden = {g.node.inode: len(g.pods) for g in groups}
    for g in groups:  # a node's pods the packet never entered would only crowd the picture
        g.pods = [p for p in g.pods if not inodes or p.inode in inodes]
        hidden[g.node.inode] -= len(g.pods)
    lay = PictureLayout()
    cols = _columns(topo, groups, need)
    y = TOP
    for g in groups:
        y += _group(lay, topo, g, y, cols, hidden[g.node.inode]) + PAD
    right = PAD + cols.group_w if groups else 0.0
    drawn = {g.node.inode for g in groups} | {p.inode for g in groups for p in g.pods}
    drawn |= {n.inode for n in loose}
    lay.width = right + lanes_width(lay, topo, drawn) + LABEL_ROOM if groups else PAD
    y_loose = _loose(lay, topo, loose, lay.width, need)
    add_wires(lay, topo, right)
    lay.width = max(lay.width, 480.0)
    lay.height = max(y, y_loose)
    return lay
