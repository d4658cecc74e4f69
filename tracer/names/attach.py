"""Put runtime names onto a discovered topology (pure: reports in, a new Topology out).

A workload is matched to a namespace by nsfs inode (the gatherer stats its
``/proc/PID/ns/net``), else by one of the namespace's PIDs. Several
containers may share one netns (a pod's app containers, ``--network
container:``): a pod sandbox wins over its containers, then the first
reported. Bridges get the runtime network they carry by device name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tracer.names.runtime import RuntimeReport, Workload
from tracer.topology.model import OWNER_POD, Link, Netns, Owner, Topology


def attach(topo: Topology, reports: Iterable[RuntimeReport]) -> Topology:
    """``topo`` with owners on namespaces, network names on bridges and pod addresses."""
    reports = [r for r in reports if r.ok]
    work = [w for r in reports for w in r.workloads]
    nets = {(n.bridge): n.name for r in reports for n in r.networks}
    pods = tuple(p for r in reports for p in r.pods)
    spaces = tuple(_named_netns(ns, work, nets) for ns in topo.namespaces)
    return replace(topo, namespaces=spaces, pod_addresses=topo.pod_addresses + pods)


def _named_netns(ns: Netns, work: list[Workload], nets: dict[str, str]) -> Netns:
    owners: list[Owner] = []
    if not ns.is_init:
        pids = set(ns.pids)
        for w in work:
            hit = w.netns_inode == ns.inode if w.netns_inode else w.pid in pids
            owner = replace(w.owner, netns_path=w.netns_path)
            if hit and owner not in owners:
                owners.append(owner)
        owners.sort(key=lambda o: 0 if o.kind == OWNER_POD else 1)
        owners = _one_pod(owners)
    links = tuple(_named_link(ln, nets) for ln in ns.links)
    return replace(ns, owners=tuple(owners) or ns.owners, links=links)


def _one_pod(owners: list[Owner]) -> list[Owner]:
    """A pod reported by two runtimes (containerd and CRI) is one owner."""
    seen: set[tuple[str, str]] = set()
    out = []
    for o in owners:
        key = (o.namespace, o.name) if o.kind == OWNER_POD else (o.runtime, o.id or o.name)
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out


def _named_link(ln: Link, nets: dict[str, str]) -> Link:
    name = nets.get(ln.name, "") if ln.kind == "bridge" else ""
    return replace(ln, network=name) if name else ln


__all__ = ["attach"]
