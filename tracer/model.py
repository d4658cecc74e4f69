"""The event model: one kernel observation of one packet at one hook.

Every layer of brtrace (probes, correlator, record/replay, text and TUI views)
speaks in these frozen dataclasses. The probe's single C event struct, described
in ``tracer/schema/event.py``, is decoded straight into :class:`Event`
(``tracer/schema/decode.py``); a recording stores exactly these fields; replay
rebuilds them. :class:`Hook` is the hook table's enum (``tracer/schema/hooks.py``),
re-exported here because every view names hooks. Nothing here imports bcc,
pyroute2 or textual, so the whole pipeline downstream of the kernel runs on
recorded data without root.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from dataclasses import dataclass, field, fields

from tracer.schema.hooks import Hook as Hook  # re-exported: the views name hooks from here

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
ICMP_ECHOREPLY = 0
ICMP_ECHO = 8
ICMPV6_ECHO = 128
ICMPV6_ECHOREPLY = 129
NDP_NS = 135  # neighbour solicitation: IPv6's "who has" (RFC 4861)
NDP_NA = 136  # neighbour advertisement: its "is at"
# An ICMPv6 echo's type as ICMP's: a ping is paired by id and sequence whatever its family.
ECHO_AS_ICMP: dict[int, int] = {ICMPV6_ECHO: ICMP_ECHO, ICMPV6_ECHOREPLY: ICMP_ECHOREPLY}


@functools.lru_cache(maxsize=4096)
def ip4(value: int) -> str:
    """Dotted quad of an address the probe stored in network byte order.

    Cached: a trace sees few addresses, and every hop of every packet asks
    (the live TUI under a flood spent a tenth of its hop building here).
    """
    return str(ipaddress.IPv4Address(value.to_bytes(4, "little"))) if value else ""


def ip6(value: bytes) -> str:
    """An IPv6 address from its 16 bytes, compressed as ``ip -6`` prints it."""
    return str(ipaddress.IPv6Address(value)) if len(value) == 16 else ""


def mac(value: bytes) -> str:
    return ":".join(f"{b:02x}" for b in value)


@dataclass(frozen=True, slots=True)
class L4Key:
    """Addresses and transport key of one IP header (outer or VXLAN-inner).

    For ICMP and ICMPv6, ``sport``/``dport`` carry the echo id and sequence
    (host order), which is what lets a journey be followed across NAT and
    encapsulation. An IPv6 key has its whole addresses in ``saddr6``/``daddr6``
    and their last 4 bytes in ``saddr``/``daddr`` (what packet keys compare);
    ``ip_id`` is then the low 16 bits of the flow label.
    """

    saddr: int = 0  # network byte order, as the kernel stores it
    daddr: int = 0
    proto: int = 0
    ip_id: int = 0
    ttl: int = 0
    sport: int = 0
    dport: int = 0
    icmp_type: int = 0xFF
    icmp_code: int = 0
    saddr6: bytes = b""  # IPv6 only: 16 bytes each
    daddr6: bytes = b""

    @property
    def v6(self) -> bool:
        return bool(self.saddr6)

    @property
    def src(self) -> str:
        return ip6(self.saddr6) if self.saddr6 else ip4(self.saddr)

    @property
    def dst(self) -> str:
        return ip6(self.daddr6) if self.daddr6 else ip4(self.daddr)

    @property
    def echo_type(self) -> int | None:
        """ICMP_ECHO or ICMP_ECHOREPLY for an echo of either family, else None."""
        if self.proto == IPPROTO_ICMP and self.icmp_type in (ICMP_ECHO, ICMP_ECHOREPLY):
            return self.icmp_type
        if self.proto == IPPROTO_ICMPV6:
            return ECHO_AS_ICMP.get(self.icmp_type)
        return None

    @property
    def is_icmp_echo(self) -> bool:
        return self.echo_type is not None

    @property
    def is_ndp(self) -> bool:
        return self.proto == IPPROTO_ICMPV6 and self.icmp_type in (NDP_NS, NDP_NA)

    @property
    def present(self) -> bool:
        return self.proto != 0 or self.saddr != 0


@dataclass(frozen=True, slots=True)
class Route:
    """A ``fib_table_lookup`` result: which table answered and where it leads."""

    table: int = 0
    err: int = 0
    oif: int = 0  # flowi4_oif asked for (0 = any)
    iif: int = 0  # flowi4_iif: the receiving device (input route); LOOPBACK_IFINDEX 1: output
    nh_ifindex: int = 0  # device of the chosen next hop
    gateway: int = 0  # next-hop IPv4 gateway, network byte order, 0 = on-link/direct
    gateway6: bytes = b""  # an IPv6 lookup's gateway, 16 bytes (schema 6); b"": none known

    @property
    def via(self) -> str:
        """The gateway as an address, either family; "" when the next hop is direct."""
        if self.gateway6 and any(self.gateway6):
            return ip6(self.gateway6)
        return ip4(self.gateway) if self.gateway else ""


@dataclass(frozen=True, slots=True)
class Event:
    """One observation of one packet at one hook, decoded from the kernel.

    Fields come from ``struct brt_event`` as ``tracer/schema/event.py`` maps
    them (``probes/brtrace.c`` says how each is read). ``inner`` is set when
    the packet is VXLAN-encapsulated (then ``vni`` is set too) and holds the
    encapsulated packet's key.
    """

    ts_ns: int
    cpu: int
    hook: Hook
    skb: int
    netns: int
    ifindex: int
    ifname: str
    length: int
    src_mac: str = ""
    dst_mac: str = ""
    ethertype: int = 0
    vlan: int = 0
    outer: L4Key = field(default_factory=L4Key)
    vni: int = 0
    inner: L4Key | None = None
    inner_src_mac: str = ""
    inner_dst_mac: str = ""
    drop_reason: int = 0
    location: int = 0
    reason_name: str = ""  # decoded by the loader from the running kernel's BTF enum
    location_sym: str = ""  # "sym+0xoff" from /proc/kallsyms, resolved by the loader
    route: Route | None = None
    fdb_mac: str = ""
    fdb_vlan: int = 0
    pkt_type: int = 0
    headers: bytes = b""  # captured bytes from the L2 (or L3) header, snaplen-bound
    headers_l3: bool = False  # True when ``headers`` starts at the IP header

    @property
    def key(self) -> L4Key:
        """The key that identifies the traced packet: inner if encapsulated."""
        return self.inner if self.inner is not None else self.outer

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (L4Key, Route)):
                v = {g.name: _plain(getattr(v, g.name)) for g in fields(v)}
            elif isinstance(v, Hook):
                v = int(v)
            elif isinstance(v, bytes):
                v = v.hex()
            out[f.name] = v
        return out

    @staticmethod
    def from_dict(d: dict[str, object]) -> Event:
        """Rebuild an event from :meth:`to_dict` output; raises on bad data."""
        kw = dict(d)
        kw["hook"] = Hook(int(kw["hook"]))  # type: ignore[call-overload]
        kw["outer"] = _key_from(kw["outer"])
        if kw.get("inner") is not None:
            kw["inner"] = _key_from(kw["inner"])
        if kw.get("route") is not None:
            kw["route"] = _route_from(kw["route"])
        kw["headers"] = bytes.fromhex(str(kw.get("headers", "")))
        return Event(**kw)  # type: ignore[arg-type]


def _plain(v: object) -> object:
    return v.hex() if isinstance(v, bytes) else v


def _route_from(d: object) -> Route:
    """A Route from to_dict's map (the IPv6 gateway as hex; absent before schema 6)."""
    kw = dict(d)  # type: ignore[call-overload]
    kw["gateway6"] = bytes.fromhex(str(kw.get("gateway6", "")))
    return Route(**kw)


def _key_from(d: object) -> L4Key:
    """An L4Key from to_dict's map (the IPv6 addresses as hex; absent before IPv6)."""
    kw = dict(d)  # type: ignore[call-overload]
    for name in ("saddr6", "daddr6"):
        kw[name] = bytes.fromhex(str(kw.get(name, "")))
    return L4Key(**kw)


class HookMode(enum.StrEnum):
    """How a hook is attached; the value is what recordings and ``doctor --json`` carry.

    Tracepoints attach as raw tracepoints (one BTF-typed argument read, no
    format parsing); function hooks as kprobes, else fentry; else off.
    """

    RAW_TRACEPOINT = "raw_tracepoint"
    KPROBE = "kprobe"
    FENTRY = "fentry"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class HookStatus:
    """How one hook is attached on this kernel, for ``doctor`` and the status bar."""

    hook: Hook
    mode: HookMode
    detail: str = ""

    @property
    def live(self) -> bool:
        return self.mode != HookMode.OFF


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters an event source keeps; ``lost`` is counted in the kernel."""

    events: int = 0
    lost: int = 0
    batches: int = 0
