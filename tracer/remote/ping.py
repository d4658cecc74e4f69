"""``brtrace ping --agents``: probes sent by the agent of the source's node, every
node's events merged into one journey per packet.

The probes go out once every node's hooks are live (each stream's first
message says so). The merge waits for the end of the run: the clocks are
tightened by the VXLAN crossings the run itself saw, and every event is
placed on the client's time line with the final offsets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.correlate.correlator import Correlator
from tracer.correlate.pairing import Packet, probe_packet
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.multinode.edges import across_nodes
from tracer.ping import choose_source, source_address
from tracer.remote.client import AgentError
from tracer.remote.session import Session
from tracer.sender import probe_id
from tracer.topology.model import Netns


@dataclass
class RemotePing:
    node: str
    src: Netns
    src_addr: str
    ident: int
    results: list[Packet] = field(default_factory=list)
    events: int = 0
    error: str = ""


def pick_source(sess: Session, dest: str, wanted: str | None) -> tuple[str, Netns]:
    """``--from NODE:WHAT`` or a bare ``WHAT`` only one node has; else a namespace with a route."""
    cl = sess.cluster
    if wanted:
        try:
            hit = cl.find(wanted)
        except ValueError as exc:
            raise BrtraceError(str(exc), 2) from None
        if hit is None:
            why = "; ".join(f"agent {n}: {w}" for n, c in sess.clients.items() if c.info
                            for w in c.info.warnings)
            raise BrtraceError(f"unknown --from {wanted!r}: no node has that namespace "
                               f"({why or 'see `brtrace topo --agents …`'})", 2)
        return hit
    ns = choose_source(cl.topology, dest, None)
    return cl.node_of.get(ns.inode, ""), ns


def _agent_netns(sess: Session, node: str, ns: Netns) -> str:
    """How the node's own agent names the namespace (the merge may have renamed its inode)."""
    if ns.name:
        return ns.name
    back = {new: old for old, new in sess.cluster.remap.get(node, {}).items()}
    return str(back.get(ns.inode, ns.inode))


def run_remote_ping(sess: Session, dest: str, wanted: str | None, count: int, interval: float,
                    size: int = 56, snaplen: int = 128, all_hooks: bool = False) -> RemotePing:
    """Streams open and live on every node, probes from the source's node, then one merge.

    Nothing is correlated before the end: the offsets are final only once the
    run's own crossings have tightened them.
    """
    node, ns = pick_source(sess, dest, wanted)
    if node not in sess.clients:
        raise BrtraceError(f"{ns.label} is on node {node or '?'}, whose agent is not reachable")
    run = RemotePing(node, ns, source_address(ns, dest), probe_id())
    flt = TraceFilter(icmp_id=run.ident, fib_addrs=tuple(a for a in (dest, run.src_addr) if a))
    sess.start(flt, snaplen, all_hooks)
    reply: list[pb.SendProbesReply] = []

    def send() -> None:
        try:
            reply.append(sess.clients[node].send_probes(_agent_netns(sess, node, ns), dest, run.ident,
                                                        count, interval, size))
        except AgentError as exc:
            run.error = str(exc)

    th = threading.Thread(target=send, name="brt-remote-probes", daemon=True)
    th.start()
    try:
        while th.is_alive():
            sess.pump(0.1, release=False)
    finally:
        batch = sess.finish()
    if run.error:
        raise BrtraceError(run.error)
    corr = Correlator()
    if batch is not None:
        corr.feed(batch)
        run.events = len(batch)
    probes = reply[0].probes if reply else []
    run.results = [across_nodes(probe_packet(corr, sess.cluster.topology, run.ident, p.seq,
                                             p.rtt_ns if p.HasField("rtt_ns") else None, p.error),
                                sess.cluster, sess.dead)
                   for p in probes]
    return run
