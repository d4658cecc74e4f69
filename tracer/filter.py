"""What to trace: the in-kernel filter, as data.

The loader turns it into ``-D`` cflags for the C program, so that packets of
other flows cost one header parse and no event. A pcap-filter expression
(``expr``) travels as text: the loader compiles it with libpcap and writes it
into the program as brt_filter.h (tracer/pcapf). ``--host/--proto/--port``
are shorthands of an expression (``shorthand_expr``): they run as the fixed
filter when it is equivalent (``fast_path``), else as part of the expression.
Pure: no bcc here.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tracer.errors import BrtraceError

if TYPE_CHECKING:
    from tracer.topology.model import Topology

PROTOS = {"icmp": 1, "tcp": 6, "udp": 17}
IANA_VXLAN_PORT = 4789  # brtrace.c's VXLAN_PORT2: always looked inside


# struct brt_cfg (probes/brtrace.c): fib6_a[2], fib6_b[2] (u64), fib_a, fib_b, icmp_id, pad (u32)
CFG_FORMAT = "<4Q4I"
CFG_MAP = "brt_cfg"


def be32(addr: str) -> int:
    """An IPv4 address as the u32 the kernel stores (network order, read little-endian)."""
    return int.from_bytes(ipaddress.IPv4Address(addr).packed, "little")


def be64x2(addr: str) -> tuple[int, int]:
    """An IPv6 address as the two u64 a probe loads from the kernel's in6_addr
    (network order, each half read little-endian)."""
    b = ipaddress.IPv6Address(addr).packed
    return int.from_bytes(b[:8], "little"), int.from_bytes(b[8:], "little")


@dataclass(frozen=True, slots=True)
class TraceFilter:
    icmp_id: int | None = None
    host: str | None = None
    proto: str | None = None
    port: int | None = None
    fib_addrs: tuple[str, ...] = ()
    only_drops: bool = False
    vxlan_port: int = 8472
    expr: str | None = None  # a pcap-filter expression, ANDed with the fields above
    inner: bool = False  # expr also matches the frame inside VXLAN (and so its outer packet)
    topo_vxlan_port: int = 0  # a VXLAN device's dstport in the topology besides the two above
    # follow a --host/--port or expression match through NAT in the kernel (probes/brtrace.c,
    # nat_follow_*): set where a NAT rule exists (tracer/netfilter/read.follow_nat), else it
    # costs every packet the filter rejects a map read for nothing
    nat_follow: bool = False

    @property
    def shorthand(self) -> str | None:
        """``--host/--proto/--port`` as the pcap expression they stand for."""
        return shorthand_expr(self.host, self.proto, self.port)

    @property
    def expression(self) -> str | None:
        """The one expression this filter means: the shorthands' and the user's, ANDed."""
        parts = [x for x in (self.shorthand, self.expr) if x]
        return " and ".join(f"({x})" for x in parts) if len(parts) > 1 else (parts[0] if parts else None)

    @property
    def looks_inside(self) -> bool:
        """Whether the expression also matches the frame inside VXLAN: with
        ``--inner``, and always with a shorthand (``--host`` has always
        matched the outer or the VXLAN-inner packet: ``--host H`` is
        ``--inner 'host H'``)."""
        return self.inner or self.shorthand is not None

    @property
    def fast_path(self) -> bool:
        """Whether the shorthands run as brtrace.c's fixed -D filter rather than
        as the translated expression: only when nothing else is asked and the
        fixed filter selects the same packets (``tests/kernel/test_pcap_filter.py``
        holds it to the expression): its port test reads ICMP's id and
        sequence too, so ``--port`` alone, or with ``--proto icmp``, is not."""
        return (self.expr is None and (self.port is None or self.proto in ("tcp", "udp"))
                and not is_ipv6(self.host))

    @property
    def kernel_expr(self) -> str | None:
        """What the loader compiles into brt_filter.h (None: the fixed filter alone)."""
        return None if self.fast_path else self.expression

    def __post_init__(self) -> None:
        if self.host:
            try:
                ipaddress.ip_address(self.host)
            except ValueError:
                raise BrtraceError(f"not an IPv4 or IPv6 address: {self.host!r}", 2) from None
        for a in self.fib_addrs:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise BrtraceError(f"not an IPv4 or IPv6 address: {a!r}", 2) from None
        if self.proto is not None and self.proto not in PROTOS:
            raise BrtraceError(f"unknown protocol {self.proto!r} (use icmp, tcp or udp)", 2)
        if self.port is not None and not 0 < self.port < 65536:
            raise BrtraceError(f"port out of range: {self.port}", 2)
        if self.port is not None and self.proto == "icmp":
            raise BrtraceError("--port is a TCP or UDP port: it selects nothing with --proto icmp", 2)
        if self.inner and not self.expression:
            raise BrtraceError("--inner needs a filter expression (e.g. 'icmp and host 10.244.1.3')", 2)

    def cflags(self) -> list[str]:
        out = [f"-DVXLAN_PORT={self.vxlan_port}"]
        if self.topo_vxlan_port:
            out.append(f"-DVXLAN_PORT3={self.topo_vxlan_port}")
        if self.icmp_id is not None:
            out.append("-DFILTER_ICMP_ID=1")  # the id itself: cfg_values
        if self.fast_path:  # else the shorthands are part of kernel_expr
            if self.host:
                out.append(f"-DFILTER_HOST={be32(self.host)}U")
            if self.proto:
                out.append(f"-DFILTER_PROTO={PROTOS[self.proto]}")
            if self.port is not None:
                out.append(f"-DFILTER_PORT={self.port}")
        v4, v6 = self._fib_v4_v6()
        out += [f"-D{m}=1" for m, _ in zip(("FIB_ADDR_A", "FIB_ADDR_B"), v4, strict=False)]
        out += [f"-D{m}=1" for m, _ in zip(("FIB6_ADDR_A", "FIB6_ADDR_B"), v6, strict=False)]
        if self.only_drops:
            out.append("-DONLY_DROPS=1")
        if self.follows_nat:
            out.append("-DNAT_FOLLOW=1")
        return out

    def _fib_v4_v6(self) -> tuple[list[str], list[str]]:
        return ([a for a in self.fib_addrs if ":" not in a][:2],
                [a for a in self.fib_addrs if ":" in a][:2])

    def cfg_values(self) -> bytes:
        """struct brt_cfg (probes/brtrace.c) for this filter: the values the
        loader writes into the program's brt_cfg map before anything attaches.

        Why not -D values: ping's ICMP id (its pid) and addresses differ on
        every run, and each -D value is part of the compiled-program cache's
        key, so every ping compiled (~0.7 s) and verified anew; which of the
        values are used stays a -D (cflags)."""
        v4, v6 = self._fib_v4_v6()
        a4 = [be32(a) for a in v4] + [0] * (2 - len(v4))
        a6 = [h for a in v6 for h in be64x2(a)] + [0] * (4 - 2 * len(v6))
        return struct.pack(CFG_FORMAT, *a6, *a4, self.icmp_id or 0, 0)

    @property
    def follows_nat(self) -> bool:
        """Whether the kernel follows a match through NAT (``nat_follow`` asked it): a
        filter naming addresses or ports, which NAT rewrites — the fixed ``--host``/``--port``
        or any expression (``'tcp and host 198.51.100.2'`` loses the request at DNAT just
        the same) — and IPv4's (NAT66 is not followed: an IPv6 ``--host`` never asks)."""
        if not self.nat_follow or is_ipv6(self.host):
            return False
        if self.fast_path:
            return bool(self.host or self.port is not None)
        return self.kernel_expr is not None

    def describe(self) -> str:
        parts = []
        if self.icmp_id is not None:
            parts.append(f"icmp id {self.icmp_id}")
        if self.host:
            parts.append(f"host {self.host}")
        if self.proto:
            parts.append(self.proto)
        if self.port is not None:
            parts.append(f"port {self.port}")
        if self.expr:
            parts.append(f"({self.expr})" + (" inside VXLAN too" if self.inner else ""))
        if self.only_drops:
            parts.append("drops only")
        return " and ".join(parts) or "all packets"


def is_ipv6(addr: str | None) -> bool:
    """Whether ``--host`` names an IPv6 address (then no fixed filter, no NAT following)."""
    return bool(addr) and ":" in str(addr)


def shorthand_expr(host: str | None, proto: str | None, port: int | None) -> str | None:
    """The pcap-filter expression ``--host/--proto/--port`` stand for: the one
    place that says what they mean. IPv4, as brtrace's fixed filter:
    ``ip proto N`` rather than ``tcp`` (which also means IPv6); with an IPv6
    ``--host``, IPv6's (``icmp6``, ``ip6 proto N``: the fixed filter cannot
    hold the address, so that one always runs as the expression); ``--port``
    is a TCP or UDP port (``tcp port N`` with ``--proto tcp``)."""
    parts = []
    if host:
        parts.append(f"host {host}")
    if proto and is_ipv6(host):
        parts.append("icmp6" if proto == "icmp" else f"ip6 proto {PROTOS[proto]}")
    elif proto:
        parts.append(f"ip proto {PROTOS[proto]}")
    if port is not None:
        parts.append(f"{proto} port {port}" if proto in ("tcp", "udp")
                     else f"ip and (tcp port {port} or udp port {port})")
    return " and ".join(parts) or None


def with_topology(flt: TraceFilter, topo: Topology) -> TraceFilter:
    """``flt`` also looking inside VXLAN on the port a VXLAN device of ``topo``
    uses when it is neither flannel's nor IANA's (the first such: one more
    comparison per UDP packet in the kernel, not a list)."""
    known = {flt.vxlan_port, IANA_VXLAN_PORT}
    for ns in topo.namespaces:
        for ln in ns.links:
            if ln.vxlan is not None and ln.vxlan.port not in known:
                return replace(flt, topo_vxlan_port=ln.vxlan.port)
    return flt
