"""Lay the topology out as a map: pods | nodes (bridges, VXLAN) | underlay.

A *node* is a namespace that holds a bridge or a VXLAN device; its *pods* are
the namespaces whose veth peer is one of its bridge ports. Each node is drawn
as a box with one row per device, its pods as boxes to the left joined by
their veth pair, VXLAN devices of all nodes joined by a double-line tunnel
and node uplinks joined by the underlay line on the right. Anything else
(host, loose namespaces) goes in a last column or row. Pure layout on the
topology model: no textual, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.render.inert import inert
from tracer.topology.groups import Group, device_text, group_namespaces
from tracer.topology.groups import map_links as _links
from tracer.topology.model import ROLE_UPLINK, Netns, Topology, link_role
from tui.canvas import Canvas

DevKey = tuple[int, int]  # (netns inode, ifindex)
POD_GAP = 4  # columns between pod boxes and node boxes (plus one per extra pod)
TUNNEL, UNDERLAY = "#af87ff", "#8a8a8a"  # violet and grey: red is for drops, yellow the current hop


@dataclass(slots=True)
class MapLayout:
    """A laid-out map: the canvas plus where every device and wire sits."""

    canvas: Canvas
    devices: dict[DevKey, tuple[int, int]] = field(default_factory=dict)  # -> (x, y)
    wires: list[tuple[DevKey, DevKey]] = field(default_factory=list)
    tunnels: list[DevKey] = field(default_factory=list)
    uplinks: list[DevKey] = field(default_factory=list)  # devices on the underlay line
    shown: set[int] = field(default_factory=set)  # netns inodes on the map

    @property
    def width(self) -> int:
        return self.canvas.width

    @property
    def height(self) -> int:
        return self.canvas.height


def _box_width(topo: Topology, ns: Netns) -> int:
    rows = [len(device_text(topo, ns, ln)) for ln in _links(ns)]
    return max([len(inert(ns.label)) + 6, *(r + 4 for r in rows)])


def _box_height(ns: Netns) -> int:
    return len(_links(ns)) + 2


def _draw_ns(c: Canvas, topo: Topology, ns: Netns, x: int, y: int, w: int, lay: MapLayout) -> None:
    c.box(x, y, w, _box_height(ns), inert(ns.label), "cyan", ("ns", ns.inode))
    for i, ln in enumerate(_links(ns)):
        key = (ns.inode, ln.ifindex)
        c.put(x + 2, y + 1 + i, device_text(topo, ns, ln).ljust(w - 4), "", ("dev",) + key)
        lay.devices[key] = (x, y + 1 + i)
    lay.shown.add(ns.inode)


def _wire(c: Canvas, x0: int, y0: int, x1: int, y1: int, mid: int, tag: object) -> None:
    """An elbow line from (x0, y0) to (x1, y1) turning at column ``mid``."""
    if y0 == y1:
        c.hline(x0, x1, y0, "─", "dim", tag)
        return
    c.hline(x0, mid - 1, y0, "─", "dim", tag)
    c.vline(mid, y0, y1, "│", "dim", tag)
    c.put(mid, y0, "┐" if y1 > y0 else "┘", "dim", tag)
    c.put(mid, y1, "└" if y1 > y0 else "┌", "dim", tag)
    c.hline(mid + 1, x1, y1, "─", "dim", tag)


def layout(topo: Topology, only: set[int] | None = None) -> MapLayout:
    """The whole map; ``only`` restricts it to groups touching those namespaces."""
    groups, loose = group_namespaces(topo, only)
    pods = [p for g in groups for p in g.pods]
    pod_w = max([_box_width(topo, p) for p in pods], default=0)
    node_w = max([_box_width(topo, g.node) for g in groups], default=0)
    max_pods = max([len(g.pods) for g in groups], default=0)
    x_node = pod_w + POD_GAP + max_pods if pods else 0
    x_vx = x_node + node_w + 3
    x_ul = x_vx + 9
    loose_w = max([_box_width(topo, ns) for ns in loose], default=0)
    heights = [max(_box_height(g.node), sum(_box_height(p) for p in g.pods)) for g in groups]
    height = sum(h + 1 for h in heights) + sum(_box_height(ns) + 1 for ns in loose) + 1
    width = max(x_ul + 12 + loose_w, loose_w + 2) if groups else loose_w + 2
    lay = MapLayout(Canvas(width, max(height, 1)))
    y = 0
    for g, h in zip(groups, heights, strict=True):
        _draw_group(lay, topo, g, y, pod_w, x_node, node_w)
        y += h + 1
    _draw_tunnels(lay, topo, groups, x_node + node_w, x_vx)
    y = _draw_underlay(lay, topo, groups, loose, x_node + node_w, x_ul, y)
    lay.canvas.crop()
    return lay


def _draw_group(lay: MapLayout, topo: Topology, g: Group, y: int, pod_w: int, x_node: int,
                node_w: int) -> None:
    c = lay.canvas
    _draw_ns(c, topo, g.node, x_node, y, node_w, lay)
    py = y
    for i, pod in enumerate(sorted(g.pods, key=lambda p: _port_row(topo, p, lay))):
        _draw_ns(c, topo, pod, 0, py, pod_w, lay)
        for ln in _links(pod):
            peer = topo.peer_of(pod.inode, ln.ifindex)
            if peer is None or peer[0].inode != g.node.inode:
                continue
            a, b = (pod.inode, ln.ifindex), (peer[0].inode, peer[1].ifindex)
            ya, yb = lay.devices[a][1], lay.devices[b][1]
            c.put(pod_w - 1, ya, "├", "cyan", ("ns", pod.inode))
            c.put(x_node, yb, "┤", "cyan", ("ns", g.node.inode))
            _wire(c, pod_w, ya, x_node - 1, yb, x_node - 2 - i, ("wire", a, b))
            lay.wires.append((a, b))
        py += _box_height(pod)


def _port_row(topo: Topology, pod: Netns, lay: MapLayout) -> int:
    """Row of the node port a pod hangs off, so pod wires do not cross."""
    for ln in _links(pod):
        peer = topo.peer_of(pod.inode, ln.ifindex)
        if peer and (peer[0].inode, peer[1].ifindex) in lay.devices:
            return lay.devices[(peer[0].inode, peer[1].ifindex)][1]
    return 0


def _draw_tunnels(lay: MapLayout, topo: Topology, groups: list[Group], x_right: int, x_vx: int) -> None:
    """VXLAN devices of all nodes joined on one double-line bus, labelled with the VNI."""
    c = lay.canvas
    ends = [((g.node.inode, ln.ifindex), ln) for g in groups for ln in _links(g.node)
            if ln.kind == "vxlan"]
    if not ends:
        return
    ys = [lay.devices[k][1] for k, _ in ends]
    c.vline(x_vx, min(ys), max(ys), "║", TUNNEL, ("tunnel",))
    for k, _ln in ends:
        yy = lay.devices[k][1]
        c.put(x_right - 1, yy, "╞", TUNNEL, ("tunnel",))
        c.hline(x_right, x_vx - 1, yy, "═", TUNNEL, ("tunnel",))
        c.put(x_vx, yy, "╣" if len(ends) > 1 and yy not in (min(ys), max(ys)) else
              ("╗" if yy == min(ys) and len(ends) > 1 else ("╝" if len(ends) > 1 else "╡")),
              TUNNEL, ("tunnel",))
        lay.tunnels.append(k)
    vni = ends[0][1].vxlan.vni if ends[0][1].vxlan else "?"
    mid = (min(ys) + max(ys)) // 2
    c.put(x_vx + 2, mid, "VXLAN", TUNNEL, ("tunnel",))
    c.put(x_vx + 2, mid + 1, f"vni {vni}"[:6], TUNNEL, ("tunnel",))


def _draw_underlay(lay: MapLayout, topo: Topology, groups: list[Group], loose: list[Netns],
                   x_right: int, x_ul: int, y_end: int) -> int:
    """Node uplinks to the underlay line (or to the loose namespace they lead to)."""
    c = lay.canvas
    loose_ids = {ns.inode for ns in loose}
    ups = [(g.node, ln) for g in groups for ln in _links(g.node)
           if link_role(topo, g.node, ln) in (ROLE_UPLINK, "nic", "veth") and not ln.master]
    bus: list[int] = []
    for ns, ln in ups:
        key = (ns.inode, ln.ifindex)
        yy = lay.devices[key][1]
        c.put(x_right - 1, yy, "├", "cyan", ("ns", ns.inode))
        peer = topo.peer_of(ns.inode, ln.ifindex)
        c.hline(x_right, x_ul - 1, yy, "─", "dim", ("up", key))
        if peer and peer[0].inode in loose_ids and peer[0].inode not in lay.shown:
            _draw_ns(c, topo, peer[0], x_ul + 2, yy - 1, _box_width(topo, peer[0]), lay)
            c.hline(x_ul, x_ul + 1, yy, "─", "dim", ("up", key))
            continue
        bus.append(yy)
        lay.uplinks.append(key)
    if len(bus) > 1:
        c.vline(x_ul, min(bus), max(bus), "│", UNDERLAY, ("underlay",))
        for yy in bus:
            c.put(x_ul, yy, "┤" if yy not in (min(bus), max(bus)) else ("┐" if yy == min(bus) else "┘"),
                  UNDERLAY, ("underlay",))
        c.put(x_ul + 2, (min(bus) + max(bus)) // 2, "underlay", UNDERLAY, ("underlay",))
    y = y_end
    for ns in loose:
        if ns.inode not in lay.shown:
            _draw_ns(c, topo, ns, 0, y, _box_width(topo, ns), lay)
            y += _box_height(ns) + 1
    return y
