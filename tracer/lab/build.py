"""The few netlink operations the labs are made of, done with pyroute2 in lab namespaces.

Why a builder object: every device must be created *inside* a lab netns (veth
peers are born directly in their target namespace), so nothing ever appears
in the machine's own namespace, not even for a moment. The builder keeps one
rtnetlink socket per namespace and closes them all whatever happens.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
from typing import Any, Self

from pyroute2 import IPRoute, netns

from tracer import interrupt
from tracer.errors import BrtraceError
from tracer.netns import enter, named_path

LAB_PREFIX = "brt-"
RTNH_F_ONLINK = 4
NUD_PERMANENT = 0x80
IFA_F_NODAD = 0x02

# /dev/net/tun ioctls (linux/if_tun.h) for the tap device pyroute2 cannot place in a netns.
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def ns_name(host: str) -> str:
    return f"{LAB_PREFIX}{host}"


def netns_path(host: str) -> str:
    """File of a lab host's namespace, e.g. ``/run/netns/brt-pod-a``."""
    return named_path(ns_name(host))


def netns_exists(host: str) -> bool:
    return os.path.exists(netns_path(host))


class Builder:
    """Creates namespaces and devices for one lab; use as a context manager."""

    def __init__(self) -> None:
        self._ipr: dict[str, IPRoute] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ipr in self._ipr.values():
            ipr.close()
        self._ipr.clear()

    # -- namespaces -------------------------------------------------------
    def add_netns(self, host: str) -> None:
        """Create ``brt-<host>`` and give it a deterministic baseline of sysctls.

        New namespaces copy some IPv4 settings (forwarding, rp_filter) from the
        machine's, so a lab would behave differently per machine unless they
        are set here. IPv6 is off so traces are not full of ND/MLD chatter.
        """
        interrupt.check()
        netns.create(ns_name(host))
        self.sysctls(host, {
            "net.ipv6.conf.all.disable_ipv6": "1",
            "net.ipv6.conf.default.disable_ipv6": "1",
            "net.ipv4.conf.all.rp_filter": "0",
            "net.ipv4.conf.default.rp_filter": "0",
            "net.ipv4.ip_forward": "0",
        })
        self.set_up(host, "lo")

    def enable_ipv6(self, host: str) -> None:
        """IPv6 on, for a dual-stack lab, before its devices exist (they take the
        defaults), without router solicitations or DAD, so a trace shows the labs'
        own traffic and its neighbour discovery rather than autoconfiguration.
        Link-local addresses stay: a router's neighbour solicitation for a packet
        it forwards is sent from one (ndisc_send_ns, read in 6.18), none without.
        Addresses are kept when a device goes down (keep_addr_on_down; addrconf_ifdown,
        6.18, flushes them otherwise): a test or fault that downs and ups cni0 left
        node2 without its IPv6 address, and every later IPv6 test failed."""
        for scope in ("all", "default"):
            self.sysctls(host, {f"net.ipv6.conf.{scope}.{key}": value for key, value in (
                ("disable_ipv6", "0"), ("accept_ra", "0"),
                ("router_solicitations", "0"), ("accept_dad", "0"), ("dad_transmits", "0"),
                ("keep_addr_on_down", "1"))})

    def ipr(self, host: str) -> IPRoute:
        """The netlink socket of a lab netns; every build step passes here, so it
        is where a deferred interrupt is raised (tracer/interrupt.py: deferred)."""
        interrupt.check()
        if host not in self._ipr:
            self._ipr[host] = IPRoute(netns=ns_name(host), flags=0)
        return self._ipr[host]

    def sysctls(self, host: str, values: dict[str, str]) -> None:
        """Write sysctls inside the netns (``/proc/sys/net`` follows the thread's netns)."""
        with enter(netns_path(host)):
            for key, value in values.items():
                path = "/proc/sys/" + key.replace(".", "/")
                with open(path, "w", encoding="ascii") as f:
                    f.write(value)

    # -- links ------------------------------------------------------------
    def index(self, host: str, dev: str) -> int:
        found = self.ipr(host).link_lookup(ifname=dev)
        if not found:
            raise BrtraceError(f"device {dev} missing in {ns_name(host)}")
        return int(found[0])

    def veth(self, host: str, name: str, peer_host: str, peer_name: str, mtu: int = 1500) -> None:
        """A veth pair with ``name`` in ``host`` and its peer born in ``peer_host``."""
        fd = os.open(netns_path(peer_host), os.O_RDONLY)
        try:
            self.ipr(host).link("add", ifname=name, kind="veth", mtu=mtu,
                                peer={"ifname": peer_name, "net_ns_fd": fd, "mtu": mtu})
        finally:
            os.close(fd)

    def bridge(self, host: str, name: str, mtu: int = 1500) -> None:
        self.ipr(host).link("add", ifname=name, kind="bridge", mtu=mtu)

    def vxlan(self, host: str, name: str, **kw: Any) -> None:
        self.ipr(host).link("add", ifname=name, kind="vxlan", **kw)

    def tap(self, host: str, name: str) -> None:
        """A persistent tap, as a VM's NIC would be; opened inside the netns so it lives there."""
        with enter(netns_path(host)):
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        finally:
            os.close(fd)

    def enslave(self, host: str, dev: str, master: str) -> None:
        self.ipr(host).link("set", index=self.index(host, dev), master=self.index(host, master))

    def set_up(self, host: str, dev: str) -> None:
        self.ipr(host).link("set", index=self.index(host, dev), state="up")

    # -- L3 ---------------------------------------------------------------
    def addr(self, host: str, dev: str, cidr: str) -> None:
        """An IPv6 address skips duplicate address detection (IFA_F_NODAD): usable at
        once, as the labs' first probe needs, and nothing else claims it."""
        address, plen = cidr.split("/")
        kw: dict[str, Any] = {"flags": IFA_F_NODAD} if ":" in address else {}
        self.ipr(host).addr("add", index=self.index(host, dev), address=address, prefixlen=int(plen), **kw)

    def route(self, host: str, dst: str, gateway: str = "", dev: str = "", onlink: bool = False) -> None:
        kw: dict[str, Any] = {"dst": dst, "proto": 3}  # RTPROT_BOOT, as `ip route add`
        if ":" in dst:
            kw["family"] = socket.AF_INET6
        if gateway:
            kw["gateway"] = gateway
        if dev:
            kw["oif"] = self.index(host, dev)
        if onlink:
            kw["flags"] = RTNH_F_ONLINK
        self.ipr(host).route("add", **kw)

    def neigh(self, host: str, dev: str, ip: str, lladdr: str) -> None:
        self.ipr(host).neigh("replace", dst=ip, lladdr=lladdr, ifindex=self.index(host, dev),
                             state=NUD_PERMANENT)

    def fdb(self, host: str, dev: str, lladdr: str, dst: str) -> None:
        self.ipr(host).fdb("append", ifindex=self.index(host, dev), lladdr=lladdr, dst=dst)

    def mark(self, host: str, text: str) -> None:
        """Label ``lo`` with an alias: the lab's "built completely" stamp, kept in the netns."""
        self.ipr(host).link("set", index=self.index(host, "lo"), ifalias=text)

    def alias(self, host: str, dev: str) -> str:
        msgs = self.ipr(host).link("get", index=self.index(host, dev))
        return str(msgs[0].get("IFLA_IFALIAS") or "") if msgs else ""

    def iptables(self, host: str, *args: str) -> None:
        """iptables inside the netns: pyroute2 has no iptables, so ``ip netns exec`` it."""
        cmd = ["ip", "netns", "exec", ns_name(host), "iptables", "-w", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if res.returncode != 0:
            raise BrtraceError(f"{' '.join(cmd)} failed: {res.stderr.strip()}")


def remove_netns(host: str) -> None:
    """Unmount and delete ``brt-<host>``; the kernel frees its devices when unused."""
    netns.remove(ns_name(host))
