"""Rules at the bridge: a port that is down or not forwarding (STP)."""

from __future__ import annotations

from tracer.diagnose.context import Context, Diagnosis, device, dst_of, in_netns, said
from tracer.topology.model import Link, Netns, Topology

DEFAULT_FDB_PORT_STATE = "forwarding"


def rule_bridge_port(ctx: Context) -> Diagnosis | None:
    """A bridge found no port to send to: the destination's port is down or not forwarding."""
    ns, link = ctx.ns, ctx.link
    if ns is None or link is None or not (link.master or link.kind == "bridge"):
        return None
    if not ctx.location.startswith("br_") and ctx.reason not in ("NO_TX_TARGET", "NOT_SPECIFIED"):
        return None
    bridge = link.master or link.ifindex
    port = _port_towards(ctx.topo, ns, bridge, dst_of(ctx))
    bad = [port] if port is not None else []
    bad += [ln for ln in ns.links if ln.master == bridge and ln not in bad and _port_problem(ln)]
    bad = [ln for ln in bad if _port_problem(ln)]
    if not bad:
        return None
    ln = bad[0]
    br = ns.link(bridge)
    brn = br.name if br else "bridge"
    state = ln.bridge_port.stp_state if ln.bridge_port else "?"
    facts = [said("chk.kfree.on-bridge", reason=ctx.reason, location=ctx.location or "?", dev=ctx.hop.dev,
                  bridge=brn),
             said("chk.port-state", dev=ln.name, link=ln.state, state=state)]
    if port is not None:
        facts.append(said("chk.behind-port", dst=dst_of(ctx), port=port.name, bridge=brn))
    if ln.state != "up":
        return Diagnosis("port-down", said("port-down", port=ln.name, bridge=brn, ns=ns.label,
                                           dst=dst_of(ctx)),
                         in_netns(ns, f"ip link set dev {ln.name} up"), tuple(facts), ctx.hop,
                         device(ns, ln))
    return Diagnosis("bridge-port-blocked", said("bridge-port-blocked", port=ln.name, bridge=brn,
                                                 ns=ns.label, state=state),
                     in_netns(ns, f"bridge link set dev {ln.name} state 3"),
                     tuple(facts), ctx.hop, device(ns, ln))


def _port_problem(ln: Link) -> bool:
    bp = ln.bridge_port
    return ln.state != "up" or (bp is not None and bp.stp_state != DEFAULT_FDB_PORT_STATE)


def _port_towards(topo: Topology, ns: Netns, bridge: int, dst: str) -> Link | None:
    """The port of ``bridge`` whose veth peer's namespace owns ``dst``."""
    owner = topo.netns_owning(dst) if dst else None
    if owner is None:
        return None
    for ln in ns.links:
        if ln.master != bridge:
            continue
        peer = topo.peer_of(ns.inode, ln.ifindex)
        if peer is not None and peer[0].inode == owner.inode:
            return ln
    return None
