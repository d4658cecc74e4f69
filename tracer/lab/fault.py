"""Faults to inject into the labs: the classic reasons a pod cannot reach another.

Each fault knows its lab, one command list that breaks it, one that fixes it
(restoring the lab's exact configuration), a check that says whether it is
active (so ``break`` and ``fix`` are idempotent), and the probe that shows it
(``brtrace ping DEST --from SRC [-s SIZE]``). Commands are ``ip``/``bridge``/
``sysctl``/``iptables`` run with ``ip netns exec`` in ``brt-`` namespaces only,
so they read as what a person would type and never touch the machine's own
network.

Notes on the less obvious ones:

* ``stp-blocking``: with STP off (the lab's bridges, like docker's) the kernel
  re-selects "forwarding" at once for a port set to blocking (4); only
  ``disabled`` (0) sticks, and the bridge drops frames the same way.
* ``vxlan-mtu``: node1's underlay eth0 goes to 1400 while flannel.1 stays at
  1450 (+50 bytes of VXLAN = 1500 needed). The request with ``-s 1400``
  (1428 bytes, DF set) still leaves node1, because VXLAN does not copy DF to
  the outer header and the outer packet is fragmented; node2's 1478-byte
  encapsulated reply cannot enter node1's eth0 (veth drops frames larger than
  the receiving device's MTU), which is where the mismatch shows.
* ``rp-filter``: the flannel lab already has an asymmetric path, no extra
  route needed: pod-a → node2's underlay address 192.168.50.12 goes out of
  node1's eth0 unencapsulated (the lab has no MASQUERADE), but node2's route
  back to 10.244.0.0/24 is via flannel.1. Strict rp_filter on node2 drops the
  request on eth0; with it off (lab default) the reply returns via VXLAN.
* ``ip6-disabled``: disable_ipv6=1 on a device flushes its IPv6 addresses
  and with them their routes and neighbour entries (addrconf_ifdown, 6.18;
  keep_addr_on_down does not apply), so the fix re-adds node2's flannel.1
  address, its onlink route back to pod-a's range and the permanent neighbour
  entry after turning IPv6 back on; only the kernel's link-local comes back
  by itself.
* ``masquerade-missing``: ``outside`` has no route to 192.168.88.0/24; without
  the MASQUERADE rule the request arrives with its private source and the
  reply is never sent.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from tracer.errors import BrtraceError
from tracer.lab import docker
from tracer.lab.build import netns_exists, ns_name
from tracer.lab.spec import choose

Cmd = tuple[str, ...]


def _in(host: str, *cmd: str) -> Cmd:
    return ("ip", "netns", "exec", ns_name(host), *cmd)


def _ipt(host: str, *args: str) -> Cmd:
    return _in(host, "iptables", "-w", *args)


@dataclass(frozen=True)
class Fault:
    """One fault: how to break, fix and detect it, and the ping that shows it."""

    name: str
    lab: str
    description: str
    breaks: tuple[Cmd, ...]
    fixes: tuple[Cmd, ...]
    check: Cmd  # command whose output tells whether the fault is active
    active_if: str  # substring of the check's stdout meaning "active" ("!" prefix: absent)
    dest: str
    src: str
    size: int = 56

    def ping_args(self) -> list[str]:
        """Arguments of ``brtrace ping`` that show this fault."""
        args = [self.dest, "--from", self.src]
        return args + (["-s", str(self.size)] if self.size != 56 else [])


MASQ = ("-t", "nat", "{op}", "POSTROUTING", *docker.MASQUERADE_RULE[4:])
FLANNEL_FDB = ("02:b7:0a:f4:01:00", "dev", "flannel.1", "dst", "192.168.50.12")

# ip6-disabled: the key with flannel.1's dot as sysctl(8) wants it, and what putting
# IPv6 back on node2's flannel.1 must restore by hand (tracer/lab/flannel.py builds it)
V6_OFF = "net.ipv6.conf.flannel/1.disable_ipv6"
FLANNEL6_NODE2 = (
    _in("node2", "ip", "-6", "addr", "replace", "fd00:10:244:1::/128", "dev", "flannel.1"),
    _in("node2", "ip", "-6", "route", "replace", "fd00:10:244::/64", "via", "fd00:10:244::",
        "dev", "flannel.1", "onlink"),
    _in("node2", "ip", "-6", "neigh", "replace", "fd00:10:244::", "lladdr", "02:b7:0a:f4:00:00",
        "dev", "flannel.1", "nud", "permanent"))
FLANNEL6_ROUTE1 = ("fd00:10:244:1::/64", "via", "fd00:10:244:1::", "dev", "flannel.1", "onlink")

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("ip-forward-off", "flannel", "node1 stops routing (net.ipv4.ip_forward=0)",
          (_in("node1", "sysctl", "-qw", "net.ipv4.ip_forward=0"),),
          (_in("node1", "sysctl", "-qw", "net.ipv4.ip_forward=1"),),
          _in("node1", "sysctl", "-n", "net.ipv4.ip_forward"), "0", "10.244.1.3", "pod-a"),
    Fault("ip6-forward-off", "flannel", "node1 stops routing IPv6 (net.ipv6.conf.all.forwarding=0)",
          (_in("node1", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"),),
          (_in("node1", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"),),
          _in("node1", "sysctl", "-n", "net.ipv6.conf.all.forwarding"), "0", "fd00:10:244:1::3", "pod-a"),
    Fault("ip6-disabled", "flannel", "IPv6 disabled on node2's flannel.1 (its disable_ipv6=1), "
          "which also flushes the device's IPv6 address, route and neighbour entry",
          (_in("node2", "sysctl", "-qw", f"{V6_OFF}=1"),),
          (_in("node2", "sysctl", "-qw", f"{V6_OFF}=0"), *FLANNEL6_NODE2),
          _in("node2", "sysctl", "-n", V6_OFF), "1", "fd00:10:244:1::3", "pod-a"),
    Fault("route6-missing", "flannel", "node1 lost its route to node2's IPv6 pod range fd00:10:244:1::/64",
          (_in("node1", "ip", "-6", "route", "del", "fd00:10:244:1::/64"),),
          (_in("node1", "ip", "-6", "route", "add", *FLANNEL6_ROUTE1),),
          _in("node1", "ip", "-6", "route", "show", "fd00:10:244:1::/64"), "!fd00:10:244:1::/64",
          "fd00:10:244:1::3", "pod-a"),
    Fault("forward-drop", "docker", "FORWARD policy DROP with bridge-nf-call-iptables=1: bridged "
          "ns0 → ns1 frames pass iptables' FORWARD chain (br_netfilter), whose policy drops them",
          (_ipt(docker.HOST, "-P", "FORWARD", "DROP"),),
          (_ipt(docker.HOST, "-P", "FORWARD", "ACCEPT"),),
          _ipt(docker.HOST, "-S", "FORWARD"), "-P FORWARD DROP", "192.168.88.3", "ns0"),
    Fault("stp-blocking", "bridge", "bridge port veth20 set to STP state disabled",
          (_in("bridge-host", "bridge", "link", "set", "dev", "veth20", "state", "0"),),
          (_in("bridge-host", "bridge", "link", "set", "dev", "veth20", "state", "3"),),
          _in("bridge-host", "bridge", "link", "show", "dev", "veth20"), ",UP,",
          "172.16.0.21", "nns1"),
    Fault("port-down", "bridge", "bridge port veth20 administratively down",
          (_in("bridge-host", "ip", "link", "set", "dev", "veth20", "down"),),
          (_in("bridge-host", "ip", "link", "set", "dev", "veth20", "up"),),
          _in("bridge-host", "ip", "-o", "link", "show", "dev", "veth20"), "!,UP",
          "172.16.0.21", "nns1"),
    Fault("vxlan-mtu", "flannel", "node1's underlay eth0 MTU 1400 < flannel.1 MTU 1450 + 50",
          (_in("node1", "ip", "link", "set", "dev", "eth0", "mtu", "1400"),),
          (_in("node1", "ip", "link", "set", "dev", "eth0", "mtu", "1500"),
           _in("node1", "ip", "route", "flush", "cache"),
           _in("node2", "ip", "route", "flush", "cache")),
          _in("node1", "ip", "-o", "link", "show", "dev", "eth0"), "mtu 1400",
          "10.244.1.3", "pod-a", 1400),
    Fault("vxlan-fdb-missing", "flannel", "node1's flannel.1 lost the FDB entry for node2's VTEP",
          (_in("node1", "bridge", "fdb", "del", *FLANNEL_FDB),),
          (_in("node1", "bridge", "fdb", "append", *FLANNEL_FDB, "self", "permanent"),),
          _in("node1", "bridge", "fdb", "show", "dev", "flannel.1"), "!02:b7:0a:f4:01:00",
          "10.244.1.3", "pod-a"),
    Fault("route-missing", "flannel", "node1 lost its route to node2's pod subnet 10.244.1.0/24",
          (_in("node1", "ip", "route", "del", "10.244.1.0/24"),),
          (_in("node1", "ip", "route", "add", "10.244.1.0/24", "via", "10.244.1.0",
               "dev", "flannel.1", "onlink"),),
          _in("node1", "ip", "route", "show", "10.244.1.0/24"), "!10.244.1.0/24",
          "10.244.1.3", "pod-a"),
    Fault("rp-filter", "flannel", "strict rp_filter on node2, whose route back to pod-a's "
          "subnet is via flannel.1 while pod-a → 192.168.50.12 arrives on eth0",
          (_in("node2", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"),),
          (_in("node2", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"),),
          _in("node2", "sysctl", "-n", "net.ipv4.conf.all.rp_filter"), "1",
          "192.168.50.12", "pod-a"),
    Fault("masquerade-missing", "docker", "docker-host's MASQUERADE rule deleted: "
          "outside has no route back to 192.168.88.0/24",
          (_ipt(docker.HOST, *[a.replace("{op}", "-D") for a in MASQ]),),
          (_ipt(docker.HOST, *[a.replace("{op}", "-A") for a in MASQ]),),
          _ipt(docker.HOST, "-t", "nat", "-S", "POSTROUTING"), "!MASQUERADE",
          "198.51.100.1", "ns0"),
)}


def get(name: str) -> Fault:
    return choose(FAULTS, name, "fault")


def _run(cmd: Cmd) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        raise BrtraceError(f"{' '.join(cmd)} failed: {res.stderr.strip() or res.returncode}")
    return res.stdout


def is_active(fault: Fault) -> bool:
    """Whether the fault is in place now (stp-blocking: port up but not forwarding)."""
    out = _run(fault.check)
    if fault.name == "stp-blocking":
        return fault.active_if in out and "state forwarding" not in out
    if fault.active_if.startswith("!"):
        return fault.active_if[1:] not in out
    return out.strip() == fault.active_if or (len(fault.active_if) > 1 and fault.active_if in out)


def _require_lab(fault: Fault) -> None:
    from tracer.lab.manage import status

    if status(fault.lab).state != "up":
        raise BrtraceError(f"fault {fault.name} needs lab {fault.lab} up: brtrace lab up {fault.lab}")


def break_(name: str) -> bool:
    """Inject a fault; False if it was already active (nothing done)."""
    fault = get(name)
    _require_lab(fault)
    if is_active(fault):
        return False
    for cmd in fault.breaks:
        _run(cmd)
    return True


def fix(name: str) -> bool:
    """Remove a fault, restoring the lab's configuration; False if it was not active."""
    fault = get(name)
    _require_lab(fault)
    if not is_active(fault):
        return False
    for cmd in fault.fixes:
        _run(cmd)
    return True


def active(lab_name: str | None = None) -> list[str]:
    """Names of the faults active now (in labs that are up)."""
    out = []
    for f in FAULTS.values():
        if (lab_name is None or f.lab == lab_name) and all(netns_exists(h) for h in _hosts(f)):
            try:
                if is_active(f):
                    out.append(f.name)
            except BrtraceError:
                continue
    return out


def _hosts(f: Fault) -> list[str]:
    from tracer.lab.manage import LABS

    return list(LABS[f.lab].hosts)
