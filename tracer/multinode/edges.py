"""A probe's journey across nodes: every hop named with its node, and where it
left (or came from) the nodes brtrace sees, said in the journey itself.

A packet sent encapsulated towards an address no agent serves is not lost: it
left what brtrace can see. The journey ends there with a hop that says so,
and the probe is ``partial``, never ``delivered``: followed end to end means
every node on the path had an agent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status, Verb
from tracer.multinode.nodes import Cluster

EDGE_KIND = "edge"  # the hop's kind: an edge of what brtrace sees, not a device


def with_nodes(hops: Sequence[Hop], node_of: Mapping[int, str]) -> tuple[Hop, ...]:
    """Each hop with the node its namespace belongs to."""
    out: list[Hop] = []
    last = ""
    for h in hops:
        node = node_of.get(h.netns_inode, last)
        last = node
        out.append(dataclasses.replace(h, node=node))
    return tuple(out)


def _edge_after(h: Hop, cluster: Cluster, dead: Mapping[str, str]) -> Hop | None:
    """The hop that says where the packet went when that node sent it out of sight."""
    if h.verb != Verb.SEND_ENCAP or not h.events:
        return None
    dst = h.events[0].outer.dst
    owner = cluster.node_owning(dst) or _node_with_address(cluster, dst)
    if owner is not None and owner not in dead:
        return None
    why = f"agent {owner} {dead[owner]}" if owner is not None else "no agent there"
    return Hop(h.index + 1, h.t_ns, h.netns, h.dev, EDGE_KIND, Verb.LEFT,
               f"left {h.node} on {h.dev} towards {dst}: {why}", netns_inode=h.netns_inode,
               ifindex=h.ifindex, inferred=True, node=h.node)


def _edge_before(h: Hop, cluster: Cluster, dead: Mapping[str, str]) -> Hop | None:
    if h.verb != Verb.RECV_ENCAP or not h.events:
        return None
    src = h.events[0].outer.src
    owner = cluster.node_owning(src) or _node_with_address(cluster, src)
    if owner is not None and owner not in dead:
        return None
    why = f"agent {owner} {dead[owner]}" if owner is not None else "no agent there"
    return Hop(h.index, h.t_ns, h.netns, h.dev, EDGE_KIND, Verb.ENTERED,
               f"entered {h.node} on {h.dev} from {src}: {why}", netns_inode=h.netns_inode,
               ifindex=h.ifindex, inferred=True, node=h.node)


def _node_with_address(cluster: Cluster, addr: str) -> str | None:
    for node, addrs in cluster.addresses.items():
        if addr in addrs:
            return node
    return None


def cut_at_edges(hops: Sequence[Hop], cluster: Cluster,
                 dead: Mapping[str, str] | None = None) -> tuple[tuple[Hop, ...], bool]:
    """Hops with the edges of what brtrace saw marked; True when the journey has one."""
    gone = dead or {}
    out: list[Hop] = []
    edged = False
    for i, h in enumerate(hops):
        before = _edge_before(h, cluster, gone) if i == 0 else None
        if before is not None:
            out.append(before)
            edged = True
        out.append(h)
        after = _edge_after(h, cluster, gone)
        if after is not None and not _crossed_later(hops, i):
            out.append(after)
            edged = True
            break
    return tuple(dataclasses.replace(h, index=i + 1) for i, h in enumerate(out)), edged


def _crossed_later(hops: Sequence[Hop], i: int) -> bool:
    return any(h.verb == Verb.RECV_ENCAP and h.node != hops[i].node for h in hops[i + 1:])


def across_nodes(p: Packet, cluster: Cluster, dead: Mapping[str, str] | None = None) -> Packet:
    """The probe with node names on its hops and its edges marked; ``partial`` when it has one."""
    req, e1 = cut_at_edges(with_nodes(p.request, cluster.node_of), cluster, dead)
    rep, e2 = cut_at_edges(with_nodes(p.reply, cluster.node_of), cluster, dead)
    status = p.status
    if (e1 or e2) and status == Status.DELIVERED:
        status = Status.PARTIAL
    return dataclasses.replace(p, request=req, reply=rep, status=status)


def with_local_node(probe_json: str, hostname: str, lost: int) -> str:
    """A one-machine probe's JSON with ``nodes`` as across nodes: this machine, its own clock."""
    import json

    obj = json.loads(probe_json)
    obj["nodes"] = {hostname or "local": {"offset_ns": 0, "uncertainty_ns": 0, "lost": lost}}
    return json.dumps(obj, ensure_ascii=False)
