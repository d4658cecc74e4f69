"""The topology model: what network exists, as plain frozen dataclasses.

Discovery (``tracer/topology/discover.py``, the only pyroute2 user besides the
lab) fills it; the correlator maps hops onto it; recordings embed it as a
snapshot so a replay on another machine shows the network the trace ran on.
No pyroute2 here: the model must load from JSON without root or netlink.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from tracer.memo import IdentityMemo

LAB_PREFIX = "brt-"
HOST_LABEL = "host"

# Roles a device plays on a packet's path; the correlator and views use them.
ROLE_LOOPBACK = "loopback"
ROLE_BRIDGE = "bridge"
ROLE_VXLAN = "vxlan"
ROLE_TAP = "tap"
# The workload end of a veth whose peer is a bridge port, worded as its runtime
# says: a Kubernetes pod, a container (Docker, containerd), or a plain netns.
ROLE_POD_ETH = "pod-eth0"
ROLE_CONTAINER_ETH = "container-eth0"
ROLE_NETNS_ETH = "netns-eth0"
WORKLOAD_ROLES = frozenset((ROLE_POD_ETH, ROLE_CONTAINER_ETH, ROLE_NETNS_ETH))
ROLE_VETH_HOST = "veth-host"  # veth end enslaved to a bridge
ROLE_UPLINK = "uplink"  # a node's link to the underlay / outside
ROLE_VETH = "veth"
ROLE_NIC = "nic"


OWNER_CONTAINER = "container"
OWNER_POD = "pod"


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds a namespace, as its runtime names it (Docker, containerd, CRI-O, Kubernetes).

    A pod is named ``namespace/name``; a container by its name. ``id`` is the
    runtime's full container or sandbox id, so a person can match ``docker ps``.
    """

    kind: str  # container|pod
    runtime: str  # docker|containerd|cri|kubernetes
    name: str
    id: str = ""
    namespace: str = ""  # the pod's Kubernetes namespace
    netns_path: str = ""  # the runtime's file for the netns (Docker's SandboxKey …), if any

    @property
    def label(self) -> str:
        if self.kind == OWNER_POD and self.namespace:
            return f"{self.namespace}/{self.name}"
        return self.name


@dataclass(frozen=True, slots=True)
class PodAddress:
    """A pod's address anywhere in the cluster (Kubernetes API), for names on other nodes."""

    address: str
    namespace: str
    name: str
    node: str = ""

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    prefixlen: int
    family: int = 4

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, slots=True)
class PeerRef:
    """The other end of a veth: its namespace (by inode) and ifindex."""

    netns_inode: int
    ifindex: int


@dataclass(frozen=True, slots=True)
class BridgePort:
    stp_state: str = "forwarding"  # disabled|listening|learning|forwarding|blocking
    learning: bool = True
    hairpin: bool = False


@dataclass(frozen=True, slots=True)
class VxlanInfo:
    vni: int
    local: str = ""
    port: int = 4789
    learning: bool = True
    underlay_ifindex: int = 0
    group: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    ifindex: int
    name: str
    kind: str  # veth|bridge|vxlan|tun|tap|loopback|physical|other
    state: str = "up"
    mtu: int = 1500
    mac: str = ""
    promisc: bool = False
    master: int = 0  # ifindex of the bridge this link is a port of, 0 = none
    peer: PeerRef | None = None
    bridge_port: BridgePort | None = None
    vxlan: VxlanInfo | None = None
    addresses: tuple[Address, ...] = ()
    network: str = ""  # the runtime's network this bridge carries (Docker: "bridge", "web")


@dataclass(frozen=True, slots=True)
class RouteEntry:
    dst: str  # "default" or a CIDR
    table: int = 254
    gateway: str = ""
    ifindex: int = 0
    onlink: bool = False
    scope: str = "universe"
    type: str = "unicast"
    prefsrc: str = ""
    family: int = 4  # 6: an IPv6 route ("default" is then ::/0)

    def matches(self, addr: str) -> bool:
        ip = _address(addr)
        if ip.version != self.family:
            return False
        return self.dst == "default" or ip in _network(self.dst)

    @property
    def prefixlen(self) -> int:
        return 0 if self.dst == "default" else _network(self.dst).prefixlen


# Parsed once: every hop of every route lookup asks (a live flood's hops spent a
# third of their time re-parsing the same few prefixes). Invalid text raises
# ValueError each time, as before (lru_cache does not keep exceptions).
@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@functools.lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@dataclass(frozen=True, slots=True)
class Neighbour:
    ifindex: int
    address: str
    lladdr: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class FdbEntry:
    ifindex: int  # the port (or vxlan device) the MAC is behind
    mac: str
    master: int = 0
    vlan: int = 0
    dst: str = ""  # VXLAN remote VTEP for entries on a vxlan device
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Netns:
    """One network namespace; ``name`` is empty for one only held by processes."""

    name: str
    inode: int
    links: tuple[Link, ...] = ()
    routes: tuple[RouteEntry, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    fdb: tuple[FdbEntry, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    pids: tuple[int, ...] = ()
    is_init: bool = False
    owners: tuple[Owner, ...] = ()  # containers or the pod holding it, as runtimes name them
    node: str = ""  # the node it is on, when merged from several agents (tracer/multinode)

    @property
    def label(self) -> str:
        """Short name a person uses: ``pod-a`` for netns ``brt-pod-a``, a container's name."""
        if self.is_init:
            return HOST_LABEL
        if self.owners:
            return self.owners[0].label
        if self.name.startswith(LAB_PREFIX):
            return self.name[len(LAB_PREFIX):]
        if self.name:
            return self.name
        return f"netns:{self.inode}" + (f"(pid {self.pids[0]})" if self.pids else "")

    def link(self, ifindex: int) -> Link | None:
        for ln in self.links:
            if ln.ifindex == ifindex:
                return ln
        return None

    def link_by_name(self, name: str) -> Link | None:
        for ln in self.links:
            if ln.name == name:
                return ln
        return None

    def sysctl(self, key: str, default: str = "") -> str:
        return dict(self.sysctls).get(key, default)

    def owns_address(self, addr: str) -> bool:
        return _OWNS(self, addr)

    def route_for(self, addr: str, table: int = 254) -> RouteEntry | None:
        """Longest-prefix match in one table: the route the kernel would pick."""
        return _ROUTE_FOR(self, (addr, table))


@dataclass(frozen=True, slots=True)
class Topology:
    namespaces: tuple[Netns, ...] = ()
    taken_at: float = 0.0
    hostname: str = ""
    pod_addresses: tuple[PodAddress, ...] = ()  # pods on every node, from the Kubernetes API

    def netns_by_inode(self, inode: int) -> Netns | None:
        return _NETNS_BY_INODE(self, inode)

    def name_of_address(self, addr: str) -> str:
        """The workload owning ``addr`` here, else a pod elsewhere in the cluster, else ""."""
        ns = self.netns_owning(addr)
        if ns is not None and not ns.is_init and (ns.owners or ns.name):
            return ns.label
        for pod in self.pod_addresses:
            if pod.address == addr:
                return pod.label
        return ""

    def find_netns(self, name: str) -> Netns | None:
        """By full name (``brt-pod-a``), label (``pod-a``) or ``host``."""
        for ns in self.namespaces:
            if name in (ns.name, ns.label):
                return ns
        return None

    def link(self, netns_inode: int, ifindex: int) -> Link | None:
        ns = self.netns_by_inode(netns_inode)
        return ns.link(ifindex) if ns else None

    def peer_of(self, netns_inode: int, ifindex: int) -> tuple[Netns, Link] | None:
        ln = self.link(netns_inode, ifindex)
        if ln is None or ln.peer is None:
            return None
        ns = self.netns_by_inode(ln.peer.netns_inode)
        pl = ns.link(ln.peer.ifindex) if ns else None
        return (ns, pl) if ns and pl else None

    def role(self, netns_inode: int, ifindex: int) -> str:
        ns = self.netns_by_inode(netns_inode)
        ln = ns.link(ifindex) if ns else None
        if ns is None or ln is None:
            return ""
        return link_role(self, ns, ln)

    def netns_owning(self, addr: str) -> Netns | None:
        for ns in self.namespaces:
            if ns.owns_address(addr):
                return ns
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Topology:
        return Topology(
            namespaces=tuple(_netns_from_dict(n) for n in d.get("namespaces", ())),
            taken_at=float(d.get("taken_at", 0.0)),
            hostname=str(d.get("hostname", "")),
            pod_addresses=tuple(PodAddress(**p) for p in d.get("pod_addresses", ())),
        )


def _owns_address(ns: Netns, addr: str) -> bool:
    return any(a.address == addr for ln in ns.links for a in ln.addresses)


def _route_for(ns: Netns, q: tuple[str, int]) -> RouteEntry | None:
    addr, table = q
    best: RouteEntry | None = None
    for r in ns.routes:
        if r.table != table or r.type not in ("unicast", "local"):
            continue
        try:
            ok = r.matches(addr)
        except ValueError:
            continue
        if ok and (best is None or r.prefixlen > best.prefixlen):
            best = r
    return best


def _netns_by_inode(topo: Topology, inode: int) -> Netns | None:
    for ns in topo.namespaces:
        if ns.inode == inode:
            return ns
    return None


# Answers per frozen object (tracer/memo.py says why): the hop builder asks these per hop.
# A host's namespaces are many (one per container), a run's topologies few at a time.
NETNS_HELD = 512
_OWNS: IdentityMemo[Netns, str, bool] = IdentityMemo(_owns_address, objects=NETNS_HELD)
_ROUTE_FOR: IdentityMemo[Netns, tuple[str, int], RouteEntry | None] = IdentityMemo(
    _route_for, objects=NETNS_HELD)
_NETNS_BY_INODE: IdentityMemo[Topology, int, Netns | None] = IdentityMemo(_netns_by_inode, objects=4)


def link_role(topo: Topology, ns: Netns, ln: Link) -> str:
    """Classify a device by what it does on a path (pod end, bridge port …)."""
    simple = {"loopback": ROLE_LOOPBACK, "bridge": ROLE_BRIDGE, "vxlan": ROLE_VXLAN,
              "tun": ROLE_TAP, "tap": ROLE_TAP}
    if ln.kind in simple:
        return simple[ln.kind]
    if ln.kind != "veth":
        return ROLE_NIC
    if ln.master:
        return ROLE_VETH_HOST
    peer = topo.peer_of(ns.inode, ln.ifindex)
    if peer is not None and peer[1].master:
        return workload_role(ns)
    if any(x.kind in ("bridge", "vxlan") for x in ns.links):
        return ROLE_UPLINK
    return ROLE_VETH


def workload_role(ns: Netns) -> str:
    """The workload end's role, worded as the runtime says (no "pod" outside Kubernetes)."""
    kind = ns.owners[0].kind if ns.owners else ""
    return {OWNER_POD: ROLE_POD_ETH, OWNER_CONTAINER: ROLE_CONTAINER_ETH}.get(kind, ROLE_NETNS_ETH)


def _netns_from_dict(d: dict[str, Any]) -> Netns:
    return Netns(
        name=d["name"],
        inode=int(d["inode"]),
        links=tuple(_link_from_dict(x) for x in d.get("links", ())),
        routes=tuple(RouteEntry(**x) for x in d.get("routes", ())),
        neighbours=tuple(Neighbour(**x) for x in d.get("neighbours", ())),
        fdb=tuple(FdbEntry(**x) for x in d.get("fdb", ())),
        sysctls=tuple((str(k), str(v)) for k, v in d.get("sysctls", ())),
        pids=tuple(int(p) for p in d.get("pids", ())),
        is_init=bool(d.get("is_init", False)),
        owners=tuple(Owner(**o) for o in d.get("owners", ())),
        node=str(d.get("node", "")),
    )


def _link_from_dict(d: dict[str, Any]) -> Link:
    kw = dict(d)
    kw["peer"] = PeerRef(**kw["peer"]) if kw.get("peer") else None
    kw["bridge_port"] = BridgePort(**kw["bridge_port"]) if kw.get("bridge_port") else None
    kw["vxlan"] = VxlanInfo(**kw["vxlan"]) if kw.get("vxlan") else None
    kw["addresses"] = tuple(Address(**a) for a in kw.get("addresses", ()))
    return Link(**kw)


def empty_topology() -> Topology:
    return Topology(namespaces=(), taken_at=0.0)


__all__ = [
    "OWNER_CONTAINER",
    "OWNER_POD",
    "ROLE_CONTAINER_ETH",
    "ROLE_NETNS_ETH",
    "ROLE_POD_ETH",
    "WORKLOAD_ROLES",
    "Address",
    "BridgePort",
    "FdbEntry",
    "Link",
    "Neighbour",
    "Netns",
    "Owner",
    "PeerRef",
    "PodAddress",
    "RouteEntry",
    "Topology",
    "VxlanInfo",
    "empty_topology",
    "link_role",
    "workload_role",
]
