"""One resolver for every place that takes a namespace (``--from``, ``topo --netns`` …).

Pure matching over the discovered topology; the two bits of I/O it may need
(the netns inode behind a path, e.g. ``/proc/PID/ns/net`` or Docker's
``/var/run/docker/netns/…``) are injected, so every form is unit-tested
without root. Accepted, in this order:

* ``host``; a path (``/…``): the namespace file's inode, else a runtime's netns path;
* ``netns:N``, ``netns:N(pid P)`` (the label brtrace prints), ``net:[N]``;
* a number: a netns inode if one has it, else a PID;
* a name: a named netns (``brt-pod-a``), its label (``pod-a``), a container
  name, a pod as ``namespace/name`` or a pod name alone;
* a container or sandbox id prefix (at least ``MIN_ID_PREFIX`` hex digits);
* any of these after ``NODE:``, where NODE is this machine's hostname (other
  nodes are for the agents of the across-nodes work).

A name that fits several namespaces is an error listing them all: guessing
would trace the wrong container. :func:`resolve` returns what it picked and
how, which the CLI prints as one line unless the query was the namespace's
own name or label (then there is nothing to explain, and the labs' output
stays as it was).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tracer.errors import BrtraceError
from tracer.topology.model import OWNER_POD, Netns, Topology

MIN_ID_PREFIX = 4
_LABEL = re.compile(r"^(?:netns:(\d+)(?:\(pid \d+\))?|net:\[(\d+)\])$")
_HEX = re.compile(r"^[0-9a-f]+$")

InodeOf = Callable[[str], int]  # path -> netns inode, 0 if none


@dataclass(frozen=True, slots=True)
class Picked:
    netns: Netns
    how: str  # "container brt-web1 (docker 3972b7b76e2d)", "PID 1234" …
    plain: bool = False  # the query was the namespace's own name or label: nothing to explain

    def line(self, query: str, option: str = "--from") -> str:
        """The one line the CLI prints on stderr: which namespace ``query`` named, and why."""
        return f"{option} {query}: {self.how} -> netns {self.netns.label} (inode {self.netns.inode})"


def _no_inode(_path: str) -> int:
    return 0


def resolve(query: str, topo: Topology, *, inode_of: InodeOf = _no_inode,
            option: str = "--from") -> Picked:
    """The namespace ``query`` names; BrtraceError (one line) when none or several do."""
    q = _local(query.strip(), topo, option)
    if not q:
        raise BrtraceError(f"{option} needs a namespace", 2)
    for form in (_host, _path, _label, _number):
        picked = form(q, topo, inode_of)
        if picked is not None:
            return picked
    for matcher in (_by_name, _by_id):
        hits = matcher(q, topo)
        if len(hits) == 1:
            return next(iter(hits.values()))
        if len(hits) > 1:
            raise BrtraceError(_ambiguous(option, q, list(hits.values())), 2)
    raise BrtraceError(_unknown(option, q), 2)


def _local(q: str, topo: Topology, option: str) -> str:
    """``NODE:WHERE`` with this machine's hostname is ``WHERE``; other nodes need agents."""
    node, sep, rest = q.partition(":")
    if not sep or node in ("netns", "net") or not node or "/" in node:
        return q
    if node == topo.hostname:
        return rest
    if any(ns.name == q or any(o.name == q for o in ns.owners) for ns in topo.namespaces):
        return q  # a name that happens to hold a colon
    raise BrtraceError(f"{option} {q}: node {node!r} is not this machine ({topo.hostname or '?'}); "
                       "other nodes are reached through their agents", 2)


def _host(q: str, topo: Topology, _i: InodeOf) -> Picked | None:
    if q != "host":
        return None
    ns = next((n for n in topo.namespaces if n.is_init), None)
    return Picked(ns, "the host's netns", plain=True) if ns else None


def _path(q: str, topo: Topology, inode_of: InodeOf) -> Picked | None:
    if not q.startswith("/"):
        return None
    ino = inode_of(q)
    ns = topo.netns_by_inode(ino) if ino else None
    if ns is None:  # a runtime's path may live in its own mount namespace: match the string
        ns = next((n for n in topo.namespaces for o in n.owners if o.netns_path == q), None)
    return Picked(ns, f"netns path {q}") if ns else None  # else maybe a name as Docker prints it


def _label(q: str, topo: Topology, _i: InodeOf) -> Picked | None:
    m = _LABEL.match(q)
    if not m:
        return None
    ino = int(m.group(1) or m.group(2))
    ns = topo.netns_by_inode(ino)
    if ns is None:
        raise BrtraceError(f"no network namespace with inode {ino}", 2)
    return Picked(ns, f"netns inode {ino}")


def _number(q: str, topo: Topology, inode_of: InodeOf) -> Picked | None:
    """An inode, else a PID; neither: None (a container may be named, or its id start, "3972")."""
    if not q.isdigit():
        return None
    n = int(q)
    ns = topo.netns_by_inode(n)
    if ns is not None:
        return Picked(ns, f"netns inode {n}")
    ns = next((x for x in topo.namespaces if n in x.pids), None)
    if ns is None:
        ino = inode_of(f"/proc/{n}/ns/net")
        ns = topo.netns_by_inode(ino) if ino else None
    return Picked(ns, f"PID {n}") if ns else None


def _by_name(q: str, topo: Topology) -> dict[int, Picked]:
    """Every namespace ``q`` names exactly, keyed by inode (one namespace by two names is one hit)."""
    hits: dict[int, Picked] = {}
    bare = q.lstrip("/")  # Docker prints names as "/web1"
    for ns in topo.namespaces:
        if ns.name and q == ns.name:
            hits.setdefault(ns.inode, Picked(ns, f"named netns {ns.name}", plain=not ns.owners))
        for o in ns.owners:
            if bare == o.name or q == o.label:
                what = "pod" if o.kind == OWNER_POD else "container"
                hits.setdefault(ns.inode, Picked(ns, f"{o.runtime} {what} {o.label}" + _short(o.id)))
        if q == ns.label:
            hits.setdefault(ns.inode, Picked(ns, f"label {ns.label}", plain=True))
    return hits


def _by_id(q: str, topo: Topology) -> dict[int, Picked]:
    low = q.lower()
    if len(low) < MIN_ID_PREFIX or not _HEX.match(low):
        return {}
    hits: dict[int, Picked] = {}
    for ns in topo.namespaces:
        for o in ns.owners:
            if o.id.lower().startswith(low):
                hits.setdefault(ns.inode, Picked(ns, f"{o.runtime} {o.kind} id {o.id[:12]} ({o.label})"))
    return hits


def _unknown(option: str, q: str) -> str:
    if q.startswith("/"):
        return f"{option} {q}: not the file of a network namespace brtrace found"
    if q.isdigit():
        return (f"{option} {q}: neither a netns inode nor the PID of a process in a namespace "
                "brtrace found, nor a container name or id")
    return (f"unknown {option} {q!r}: no namespace, container or pod has that name, id, PID, "
            "inode or path (see `brtrace topo`)")


def _short(ident: str) -> str:
    return f" ({ident[:12]})" if ident else ""


def _ambiguous(option: str, q: str, picks: list[Picked]) -> str:
    shown = "; ".join(f"{p.how} [netns {p.netns.label}, inode {p.netns.inode}]" for p in picks)
    return (f"{option} {q!r} is ambiguous, it names {len(picks)} namespaces: {shown}; "
            "give a pod as namespace/name, a container id, a PID or an inode")


__all__ = ["MIN_ID_PREFIX", "Picked", "resolve"]
