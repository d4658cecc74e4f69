"""Discovery: read every network namespace over rtnetlink and build the topology model.

Two halves, on purpose:

* the *kernel* half (``dump_all``) enters each namespace with a thread-local
  ``setns`` (``tracer.netns``), opens a pyroute2 socket there and turns the
  netlink replies into plain JSON-able dicts (a "dump");
* the *pure* half (``topology_from_dumps``) turns dumps into the frozen model.

So a dump recorded on one machine is test data on another (``tests/data``),
and bug reports can carry ``brtrace topo --dump``. pyroute2 is imported
lazily: the pure half runs without it.

Namespaces are found three ways — the init netns, names in ``/run/netns`` and
``/proc/*/ns/net`` of every process (containers that were never named) — and
deduplicated by nsfs inode. A namespace that cannot be read is skipped with a
note, never a crash.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tracer.errors import BrtraceError
from tracer.netns import enter
from tracer.topology.model import (
    Address,
    BridgePort,
    FdbEntry,
    Link,
    Neighbour,
    Netns,
    PeerRef,
    RouteEntry,
    Topology,
    VxlanInfo,
)

NETNS_RUN_DIR = "/run/netns"
MAX_PIDS = 16
AF_INET, AF_INET6, AF_BRIDGE = 2, 10, 7
IFF_UP, IFF_PROMISC, IFF_LOWER_UP = 0x1, 0x100, 0x10000
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
RTNH_F_ONLINK = 4
NUD_PERMANENT, NUD_NOARP = 0x80, 0x40
NTF_SELF, NTF_MASTER = 0x2, 0x4

ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
               6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
SCOPES = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
NUD_STATES = ((0x01, "incomplete"), (0x02, "reachable"), (0x04, "stale"), (0x08, "delay"),
              (0x10, "probe"), (0x20, "failed"), (0x40, "noarp"), (0x80, "permanent"))
STP_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
BRPORT_MODE_HAIRPIN = 1
TUN_TYPE_TAP = 2
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter",
           "net.bridge.bridge-nf-call-iptables")


@dataclass
class Candidate:
    """A namespace found on the machine, before it is read."""

    path: str
    inode: int
    name: str = ""
    is_init: bool = False
    pids: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.is_init:
            return "host"
        return self.name.removeprefix("brt-")


# ---------------------------------------------------------------------------
# finding namespaces

def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def _proc_netns() -> dict[int, list[int]]:
    """Inode of every process's netns -> its pids (unreadable processes are skipped)."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            link = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if link.startswith("net:["):
            out.setdefault(int(link[5:-1]), []).append(int(entry))
    return out


def _named(notes: list[str]) -> list[Candidate]:
    try:
        names = sorted(os.listdir(NETNS_RUN_DIR))
    except OSError:
        return []
    nsfs, out = _nsfs_dev(), []
    for name in names:
        path = os.path.join(NETNS_RUN_DIR, name)
        try:
            st = os.stat(path)
        except OSError as exc:
            notes.append(f"skipped netns {name!r}: {exc.strerror}")
            continue
        if st.st_dev != nsfs:
            notes.append(f"skipped netns {name!r}: not a mounted namespace (stale file)")
            continue
        out.append(Candidate(path, st.st_ino, name=name))
    return out


def candidates(notes: list[str]) -> list[Candidate]:
    """All namespaces: init first, then named (sorted), then process-only ones; one per inode."""
    procs = _proc_netns()
    init_path = "/proc/1/ns/net" if os.access("/proc/1/ns/net", os.R_OK) else "/proc/self/ns/net"
    found: dict[int, Candidate] = {}
    init_ino = os.stat(init_path).st_ino
    found[init_ino] = Candidate(init_path, init_ino, is_init=True)
    for cand in _named(notes):
        found.setdefault(cand.inode, cand)
    for ino in sorted(procs):
        if ino not in found:
            found[ino] = Candidate(f"/proc/{procs[ino][0]}/ns/net", ino)
    for ino, cand in found.items():
        if not cand.is_init:
            cand.pids = sorted(procs.get(ino, []))[:MAX_PIDS]
    return list(found.values())


def _selected(cands: list[Candidate], names: Iterable[str] | None) -> list[Candidate]:
    if names is None:
        return cands
    wanted = set(names)
    return [c for c in cands if wanted & {c.name, c.label, str(c.inode)}]


# ---------------------------------------------------------------------------
# kernel half: netlink -> plain dicts

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
    keys = list(SYSCTLS) + [f"net.ipv4.conf.{d}.rp_filter" for d in devices]
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
            "routes": [plain(m) for m in ipr.route("dump", family=AF_INET)],
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
        for cand in _selected(cands, names):
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


def discover(names: Iterable[str] | None = None, notes: list[str] | None = None) -> Topology:
    """The topology of this machine now: all namespaces, or those matching ``names``.

    ``names`` match a netns name (``brt-pod-a``), its label (``pod-a``), ``host``
    or an inode number. Notes about skipped namespaces are appended to ``notes``.
    """
    return topology_from_dumps(dump_all(names, notes), time.time(), socket.gethostname())


# ---------------------------------------------------------------------------
# pure half: plain dicts -> model

def topology_from_dumps(dumps: Iterable[dict[str, Any]], taken_at: float = 0.0,
                        hostname: str = "") -> Topology:
    return Topology(namespaces=tuple(netns_from_dump(d) for d in dumps),
                    taken_at=taken_at, hostname=hostname)


def netns_from_dump(d: dict[str, Any]) -> Netns:
    inode = int(d["inode"])
    nsids = {int(k): int(v) for k, v in d.get("nsids", {}).items()}
    addrs = _addresses(d.get("addrs", ()))
    links = tuple(_link(m, inode, nsids, addrs) for m in d.get("links", ()))
    vxlans = {ln.ifindex for ln in links if ln.kind == "vxlan"}
    return Netns(
        name=str(d.get("name", "")),
        inode=inode,
        links=links,
        routes=tuple(r for r in (_route(m) for m in d.get("routes", ())) if r is not None),
        neighbours=tuple(_neighbour(m) for m in d.get("neighbours", ())),
        fdb=tuple(f for f in (_fdb(m, vxlans) for m in d.get("fdb", ())) if f is not None),
        sysctls=tuple(sorted((str(k), str(v)) for k, v in d.get("sysctls", {}).items())),
        pids=tuple(int(p) for p in d.get("pids", ())),
        is_init=bool(d.get("is_init", False)),
    )


def _addresses(msgs: Iterable[dict[str, Any]]) -> dict[int, list[Address]]:
    out: dict[int, list[Address]] = {}
    for m in msgs:
        a = m.get("attrs", {})
        addr = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
        if not addr:
            continue
        family = 6 if m.get("family") == AF_INET6 else 4
        out.setdefault(int(m["index"]), []).append(Address(str(addr), int(m["prefixlen"]), family))
    return out


def _kind(m: dict[str, Any], info: dict[str, Any]) -> str:
    kind = info.get("IFLA_INFO_KIND")
    if kind == "tun":
        data = info.get("IFLA_INFO_DATA") or {}
        return "tap" if data.get("attrs", {}).get("IFLA_TUN_TYPE") == TUN_TYPE_TAP else "tun"
    if kind in ("veth", "bridge", "vxlan"):
        return str(kind)
    if kind:
        return "other"
    if m.get("ifi_type") == ARPHRD_LOOPBACK:
        return "loopback"
    return "physical" if m.get("ifi_type") == ARPHRD_ETHER else "other"


def _state(flags: int) -> str:
    if not flags & IFF_UP:
        return "down"
    return "up" if flags & IFF_LOWER_UP else "no-carrier"


def _link(m: dict[str, Any], inode: int, nsids: dict[int, int],
          addrs: dict[int, list[Address]]) -> Link:
    a = m.get("attrs", {})
    info = (a.get("IFLA_LINKINFO") or {}).get("attrs", {})
    kind = _kind(m, info)
    flags = int(m.get("flags", 0))
    index = int(m["index"])
    return Link(
        ifindex=index,
        name=str(a.get("IFLA_IFNAME", "")),
        kind=kind,
        state=_state(flags),
        mtu=int(a.get("IFLA_MTU", 0) or 0),
        mac=str(a.get("IFLA_ADDRESS", "") or ""),
        promisc=bool(flags & IFF_PROMISC) or int(a.get("IFLA_PROMISCUITY", 0) or 0) > 0,
        master=int(a.get("IFLA_MASTER", 0) or 0),
        peer=_peer(a, kind, inode, nsids),
        bridge_port=_bridge_port(info),
        vxlan=_vxlan(info) if kind == "vxlan" else None,
        addresses=tuple(addrs.get(index, ())),
    )


def _peer(a: dict[str, Any], kind: str, inode: int, nsids: dict[int, int]) -> PeerRef | None:
    """A veth's other end: IFLA_LINK in the namespace IFLA_LINK_NETNSID names (none = same)."""
    if kind != "veth" or not a.get("IFLA_LINK"):
        return None
    nsid = a.get("IFLA_LINK_NETNSID")
    if nsid is None:
        return PeerRef(inode, int(a["IFLA_LINK"]))
    peer_ns = nsids.get(int(nsid))
    return PeerRef(peer_ns, int(a["IFLA_LINK"])) if peer_ns else None


def _bridge_port(info: dict[str, Any]) -> BridgePort | None:
    if info.get("IFLA_INFO_SLAVE_KIND") != "bridge":
        return None
    s = (info.get("IFLA_INFO_SLAVE_DATA") or {}).get("attrs", {})
    return BridgePort(
        stp_state=STP_STATES.get(int(s.get("IFLA_BRPORT_STATE", 3)), "unknown"),
        learning=bool(s.get("IFLA_BRPORT_LEARNING", 1)),
        hairpin=int(s.get("IFLA_BRPORT_MODE", 0) or 0) == BRPORT_MODE_HAIRPIN,
    )


def _vxlan(info: dict[str, Any]) -> VxlanInfo:
    v = (info.get("IFLA_INFO_DATA") or {}).get("attrs", {})
    return VxlanInfo(
        vni=int(v.get("IFLA_VXLAN_ID", 0) or 0),
        local=str(v.get("IFLA_VXLAN_LOCAL", "") or ""),
        port=int(v.get("IFLA_VXLAN_PORT", 4789) or 4789),
        learning=bool(v.get("IFLA_VXLAN_LEARNING", 1)),
        underlay_ifindex=int(v.get("IFLA_VXLAN_LINK", 0) or 0),
        group=str(v.get("IFLA_VXLAN_GROUP", "") or ""),
    )


def _route(m: dict[str, Any]) -> RouteEntry | None:
    if m.get("family") != AF_INET:
        return None
    a = m.get("attrs", {})
    dst = f"{a.get('RTA_DST', '0.0.0.0')}/{m.get('dst_len', 0)}" if m.get("dst_len") else "default"
    hop = _first_hop(a)
    return RouteEntry(
        dst=dst,
        table=int(a.get("RTA_TABLE", m.get("table", 254)) or 0),
        gateway=str(hop.get("RTA_GATEWAY", "") or ""),
        ifindex=int(hop.get("RTA_OIF", 0) or 0),
        onlink=bool((int(m.get("flags", 0)) | int(hop.get("flags", 0))) & RTNH_F_ONLINK),
        scope=SCOPES.get(int(m.get("scope", 0)), str(m.get("scope"))),
        type=ROUTE_TYPES.get(int(m.get("type", 1)), str(m.get("type"))),
        prefsrc=str(a.get("RTA_PREFSRC", "") or ""),
    )


def _first_hop(a: dict[str, Any]) -> dict[str, Any]:
    """Gateway/oif of a route; for multipath routes those of the first next hop."""
    multi = a.get("RTA_MULTIPATH")
    if isinstance(multi, list) and multi and isinstance(multi[0], dict):
        hop = dict(multi[0].get("attrs", {}))
        hop["RTA_OIF"] = multi[0].get("oif", 0)
        hop["flags"] = multi[0].get("flags", 0)
        return hop
    return a


def _nud(state: int) -> str:
    names = [n for bit, n in NUD_STATES if state & bit]
    return "|".join(names) if names else "none"


def _neighbour(m: dict[str, Any]) -> Neighbour:
    a = m.get("attrs", {})
    return Neighbour(ifindex=int(m.get("ifindex", 0)), address=str(a.get("NDA_DST", "")),
                     lladdr=str(a.get("NDA_LLADDR", "") or ""), state=_nud(int(m.get("state", 0))))


def _fdb(m: dict[str, Any], vxlans: set[int]) -> FdbEntry | None:
    """Bridge FDB entries and VXLAN remote entries; a device's own multicast list is skipped."""
    a = m.get("attrs", {})
    ifindex = int(m.get("ifindex", 0))
    master = int(a.get("NDA_MASTER", 0) or 0)
    if not master and (ifindex not in vxlans or not a.get("NDA_DST")):
        return None
    return FdbEntry(
        ifindex=ifindex,
        mac=str(a.get("NDA_LLADDR", "") or ""),
        master=master,
        vlan=int(a.get("NDA_VLAN", 0) or 0),
        dst=str(a.get("NDA_DST", "") or ""),
        permanent=bool(int(m.get("state", 0)) & NUD_PERMANENT),
    )


__all__ = ["Candidate", "candidates", "discover", "dump_all", "netns_from_dump", "plain",
           "topology_from_dumps"]
