"""The pure half of discovery: plain netlink-derived dicts ("dumps") -> the frozen model.

No pyroute2 and no root: a dump recorded on one machine (``brtrace topo
--dump``, ``tests/data``) builds the same model on another. Field meanings
follow rtnetlink (``IFLA_*``, ``RTA_*``, ``NDA_*``) as pyroute2 names them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    if m.get("family") not in (AF_INET, AF_INET6):
        return None
    a = m.get("attrs", {})
    dst = f"{a.get('RTA_DST', '')}/{m.get('dst_len', 0)}" if m.get("dst_len") else "default"
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
        family=6 if m.get("family") == AF_INET6 else 4,
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


__all__ = ["netns_from_dump", "topology_from_dumps"]
