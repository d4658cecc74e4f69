"""Discovery: read every network namespace over rtnetlink and build the topology model.

Three modules, one concept each:

* ``candidates`` finds the namespaces (init, ``/run/netns``, ``/proc/*/ns/net``);
* this module, the *kernel* half, enters each one with a thread-local
  ``setns`` (``tracer.netns``), opens a pyroute2 socket there and turns the
  netlink replies into plain JSON-able dicts (a "dump");
* ``build``, the *pure* half, turns dumps into the frozen model.

So a dump recorded on one machine is test data on another (``tests/data``),
and bug reports can carry ``brtrace topo --dump``. pyroute2 is imported
lazily: the pure half runs without it. A namespace that cannot be read is
skipped with a note, never a crash.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from typing import Any

from tracer.errors import BrtraceError
from tracer.netns import enter
from tracer.topology.build import AF_INET, AF_INET6, netns_from_dump, topology_from_dumps
from tracer.topology.candidates import Candidate, candidates, selected
from tracer.topology.model import Topology

SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.rp_filter",
           "net.bridge.bridge-nf-call-iptables")



def plain(obj: Any) -> Any:
    """A pyroute2 message as plain JSON-able data: fields plus ``attrs`` as a dict."""
    if isinstance(obj, dict):
        out = {k: plain(v) for k, v in obj.items() if k not in ("attrs", "header", "__pad")}
        if "attrs" in obj:
            out["attrs"] = {str(a[0]): plain(a[1]) for a in obj["attrs"] if a[0] != "UNKNOWN"}
        return out
    if isinstance(obj, (list, tuple)):
        return [plain(x) for x in obj]
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return obj
    return str(obj)


def _read_sysctls(devices: Iterable[str]) -> dict[str, str]:
    """Forwarding-relevant sysctls of the calling thread's netns (missing ones are left out)."""
    devs = list(devices)
    keys = (list(SYSCTLS) + [f"net.ipv4.conf.{d}.rp_filter" for d in devs]
            + [f"net.ipv6.conf.{d}.disable_ipv6" for d in devs])
    out = {}
    for key in keys:
        head, _, dev_tail = key.partition(".conf.")
        path = ("/proc/sys/" + head.replace(".", "/") + "/conf/" + _conf_path(dev_tail)
                if dev_tail else "/proc/sys/" + key.replace(".", "/"))
        try:
            with open(path, encoding="ascii") as f:
                out[key] = f.read().strip()
        except OSError:
            continue
    return out


def _conf_path(tail: str) -> str:
    """``eth0.rp_filter`` -> ``eth0/rp_filter`` (device names may contain dots: flannel.1)."""
    dev, _, leaf = tail.rpartition(".")
    return f"{dev}/{leaf}"


def _veth_edges(dump: dict[str, Any]) -> dict[int, set[tuple[int, int]]]:
    """nsid -> {(local ifindex, peer ifindex)} of the veths whose peer is in another netns."""
    out: dict[int, set[tuple[int, int]]] = {}
    for ln in dump["links"]:
        a = ln["attrs"]
        if "IFLA_LINK_NETNSID" in a and a.get("IFLA_LINK"):
            out.setdefault(int(a["IFLA_LINK_NETNSID"]), set()).add((int(ln["index"]), int(a["IFLA_LINK"])))
    return out


def _likely(edges: set[tuple[int, int]], mirrors: dict[int, set[tuple[int, int]]]) -> list[int]:
    """Namespaces (inodes) holding the mirror image of these veth edges: the peer's likely home."""
    return [ino for ino, pairs in mirrors.items() if all((b, a) in pairs for a, b in edges)]


def _nsid_of(ipr: Any, fd: int) -> int | None:
    try:
        res = ipr.get_netnsid(fd=fd)
    except Exception:  # noqa: BLE001 - a namespace that vanished is just not a match
        return None
    nsid = res.get("nsid") if res else None
    return int(nsid) if nsid is not None and nsid >= 0 else None


def _nsid_map(ipr: Any, dump: dict[str, Any], mirrors: dict[int, set[tuple[int, int]]],
              fds: dict[int, int]) -> dict[str, int]:
    """Which namespace (inode) each peer-netnsid used in this netns refers to.

    Asking the kernel (RTM_GETNSID with a netns fd) is exact but costs a round
    trip per namespace tried, so the namespaces holding the mirror-image veth
    are tried first; the rest only if those do not answer (peer not dumped).
    """
    out: dict[str, int] = {}
    for nsid, edges in _veth_edges(dump).items():
        likely = [i for i in _likely(edges, mirrors) if i != dump["inode"]]
        others = [i for i in fds if i not in likely and i != dump["inode"]]
        for ino in likely + others:
            if ino in fds and _nsid_of(ipr, fds[ino]) == nsid:
                out[str(nsid)] = ino
                break
    return out


def _dump_one(cand: Candidate) -> tuple[dict[str, Any], Any]:
    """One namespace's links, addresses, routes, neighbours, FDB, sysctls (nsids come later)."""
    from pyroute2 import IPRoute  # lazy: the pure half must not need pyroute2

    with enter(cand.path):
        ipr = IPRoute()
        try:
            links = [plain(m) for m in ipr.get_links()]
            sysctls = _read_sysctls(str(ln["attrs"].get("IFLA_IFNAME", "")) for ln in links)
        except BaseException:
            ipr.close()
            raise
    try:
        return {
            "name": cand.name, "inode": cand.inode, "is_init": cand.is_init, "pids": cand.pids,
            "links": links,
            "addrs": [plain(m) for m in ipr.get_addr()],
            "routes": [plain(m) for fam in (AF_INET, AF_INET6) for m in ipr.route("dump", family=fam)],
            "neighbours": [plain(m) for m in ipr.get_neighbours(family=AF_INET)],
            "fdb": [plain(m) for m in ipr.fdb("dump")],
            "nsids": {},
            "sysctls": sysctls,
        }, ipr
    except BaseException:
        ipr.close()
        raise


def dump_all(names: Iterable[str] | None = None, notes: list[str] | None = None
             ) -> list[dict[str, Any]]:
    """Raw dumps of the selected namespaces (all by default); unreadable ones become notes."""
    notes = notes if notes is not None else []
    cands = candidates(notes)
    fds = _open_all(cands)
    done: list[tuple[dict[str, Any], Any]] = []
    try:
        for cand in selected(cands, names):
            try:
                done.append(_dump_one(cand))
            except BrtraceError:
                raise
            except Exception as exc:  # noqa: BLE001 - an odd namespace must not stop discovery
                notes.append(f"skipped netns {cand.name or cand.path!r}: {exc}")
        mirrors = {d["inode"]: {e for es in _veth_edges(d).values() for e in es} for d, _ in done}
        for d, ipr in done:
            d["nsids"] = _nsid_map(ipr, d, mirrors, fds)
        return [d for d, _ in done]
    finally:
        for _, ipr in done:
            ipr.close()
        for fd in fds.values():
            os.close(fd)


def _open_all(cands: list[Candidate]) -> dict[int, int]:
    fds = {}
    for cand in cands:
        try:
            fds[cand.inode] = os.open(cand.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
    return fds


def discover(names: Iterable[str] | None = None, notes: list[str] | None = None,
             runtimes: bool = True) -> Topology:
    """The topology of this machine now: all namespaces, or those matching ``names``.

    ``names`` match a netns name (``brt-pod-a``), its label (``pod-a``), ``host``
    or an inode number. Notes about skipped namespaces are appended to ``notes``.
    With ``runtimes`` the container runtimes are asked for names (about a
    second at most; an absent runtime costs nothing, an unreachable one is a note).
    """
    topo = topology_from_dumps(dump_all(names, notes), time.time(), socket.gethostname())
    if not runtimes:
        return topo
    from tracer.names.attach import attach
    from tracer.names.gather import gather
    from tracer.names.runtime import STATUS_UNREACHABLE

    reports = gather()
    if notes is not None:
        notes.extend(f"{r.runtime} unreachable: {r.detail}" for r in reports
                     if r.status == STATUS_UNREACHABLE)
    return attach(topo, reports)


__all__ = ["Candidate", "candidates", "discover", "dump_all", "netns_from_dump", "plain",
           "topology_from_dumps"]
