"""The agent's real parts on this node: discovery, the probes, the pinger.

Kept apart from the service so the service is the same whatever it runs on;
everything here is limited to the namespaces the agent was given.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tracer.agent.pb.brtrace import agent_pb2 as pb
from tracer.agent.server import AgentConfig, Kernel
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.model import HookStatus
from tracer.topology.model import Topology

CAP_SYS_ADMIN = 21  # linux/capability.h


def effective_caps(status: str) -> int:
    """The CapEff mask of a ``/proc/PID/status`` text (0 when it has none)."""
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return 0


def namespace_limit(caps: int, notes: list[str]) -> str:
    """One line when the agent cannot enter other namespaces, else "".

    Why: setns(2) into another network namespace needs CAP_SYS_ADMIN. Without
    it discovery skips every namespace but the agent's own, and the agent used
    to serve on as if there were none: clients were told "no node has that
    namespace", never why. ``notes`` are discovery's, for how many it skipped.
    """
    if caps >> CAP_SYS_ADMIN & 1:
        return ""
    skipped = sum(1 for n in notes if n.startswith("skipped netns"))
    return ("no CAP_SYS_ADMIN: cannot enter other network namespaces, so only the agent's own is "
            f"served ({skipped} skipped); grant it as deploy/capabilities.json says")


def local_kernel(cfg: AgentConfig) -> Kernel:
    """The service's view of this machine, checked once at start (names must exist)."""
    from probes import kernel
    from tracer.topology.discover import discover

    names = list(cfg.netns) or None

    def topo() -> Topology:
        return discover(names)

    notes: list[str] = []
    first = discover(names, notes)
    with open("/proc/self/status", encoding="ascii") as f:
        limit = namespace_limit(effective_caps(f.read()), notes)
    if names and not first.namespaces:
        raise BrtraceError(limit or f"no network namespace matches {', '.join(names)}", 2)
    if names:
        missing = [n for n in names if first.find_netns(n) is None]
        if missing:
            raise BrtraceError(f"no network namespace {', '.join(missing)} on this node", 2)

    def open_source(flt: TraceFilter, snaplen: int, all_hooks: bool) -> Any:
        """Probes for one stream; the names are resolved now (a namespace made anew has a new inode).

        The filter follows its match through NAT where one of this agent's namespaces has a NAT
        rule, as a local ``trace`` does: only this node can read its rules, and without it a
        request to a published port was lost at DNAT (issue 17)."""
        from probes.loader import LiveSource
        from tracer.netfilter.read import follow_nat

        now = topo()
        if names and not now.namespaces:
            raise BrtraceError(f"none of {', '.join(names)} exists any more")
        inodes = tuple(ns.inode for ns in now.namespaces) if names else ()
        if replace(flt, nat_follow=True).follows_nat:  # not for ping's echo id: no rules read for it
            flt = follow_nat(flt, now.namespaces)[0]
        return LiveSource(flt, now, snaplen=snaplen, command=f"brtrace agent --node {cfg.node}",
                          all_hooks=all_hooks, netns_inodes=inodes)

    def hooks() -> Sequence[HookStatus]:
        from probes.plan import choose_hooks, load_plan

        return choose_hooks(load_plan().hooks, False)

    kernel.load_symbols()  # once, before serving: not in a stream's first drop (probes/kernel.py)
    return Kernel(topo, open_source, lambda req: send_probes(topo(), req), kernel.release(), hooks,
                  warnings=(limit,) if limit else ())


def send_probes(topo: Topology, req: pb.SendProbesRequest) -> pb.SendProbesReply:
    """brtrace's echo probes from one of this node's namespaces; returns when done."""
    from tracer.ping import netns_file, source_address
    from tracer.sender import Pinger

    ns = topo.find_netns(req.netns)
    if ns is None:
        raise BrtraceError(f"no namespace {req.netns!r} here")
    if not 1 <= req.count <= 10000 or not 0.01 <= req.interval <= 60:
        raise BrtraceError("count must be 1..10000 and interval 0.01..60 s")
    pinger = Pinger(netns_file(ns), req.dest, req.count, req.interval, req.ident,
                    size=req.size or 56)
    pinger.check_route()
    pinger.start()
    deadline = time.monotonic() + req.count * req.interval + 5
    while not pinger.join(0.1):
        if time.monotonic() > deadline:
            pinger.stop()
    t = pinger.times
    probes = [pb.ProbeTime(seq=s, sent_ns=t.sent_ns[s], rtt_ns=t.rtt_ns.get(s),
                           error=t.errors.get(s, "")) for s in sorted(t.sent_ns)]
    return pb.SendProbesReply(src_addr=source_address(ns, req.dest), probes=probes)
