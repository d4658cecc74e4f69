"""``brtrace ping``: attach probes, send echo probes, correlate, report.

Order matters: the probes are attached (the loader returns only once every
hook is live — that return *is* the ready signal) before the first packet is
sent, and they are detached on every way out, Ctrl-C included.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tracer import interrupt
from tracer.correlate.correlator import Correlator
from tracer.correlate.pairing import Packet, probe_packet
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.model import Event
from tracer.netns import named_path
from tracer.sender import Pinger, probe_id
from tracer.source import EventSource
from tracer.topology.model import WORKLOAD_ROLES, Netns, Topology, link_role


@dataclass
class PingRun:
    dest: str
    src_addr: str
    ident: int
    count: int
    results: list[Packet] = field(default_factory=list)
    events: int = 0  # how many were traced (a count: keeping them would build every lazy Event)
    lost: int = 0
    evicted: int = 0  # journeys the correlator's bounds forgot before the results were read
    interrupted: int = 0  # the exit code of the interrupt that stopped it (130, 143), else 0


def parse_dest(dest: str) -> str:
    """DEST as a unicast IPv4 or IPv6 address: a probe is one packet to one host.

    Broadcast and multicast destinations have no single path to show (and the
    raw socket refuses them without SO_BROADCAST: a PermissionError used to end
    in a traceback); 0.0.0.0 is the sender itself to the kernel, so its probe
    never leaves ``lo`` while the summary claimed a delivery to 0.0.0.0.
    """
    try:
        addr = ipaddress.ip_address(dest)
    except ValueError:
        raise BrtraceError(f"DEST must be an IPv4 or IPv6 address, not {dest!r}", 2) from None
    if addr.version == 6:
        return _unicast6(addr)
    if addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255"):
        kind = "multicast" if addr.is_multicast else "broadcast"
        raise BrtraceError(f"{addr} is a {kind} address: brtrace traces probes to one host; "
                           "give a unicast DEST", 2)
    if addr.is_unspecified:
        raise BrtraceError("0.0.0.0 is not a destination (the kernel sends it to the sender "
                           "itself); give the address of a host", 2)
    return str(addr)


def _unicast6(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An IPv6 DEST: one host (no multicast, ::, or a link-local address, whose scope
    would need an interface to mean anything)."""
    if addr.is_multicast:
        raise BrtraceError(f"{addr} is a multicast address: brtrace traces probes to one host; "
                           "give a unicast DEST", 2)
    if addr.is_unspecified:
        raise BrtraceError(":: is not a destination; give the address of a host", 2)
    if addr.is_link_local:
        raise BrtraceError(f"{addr} is link-local (it needs an interface to mean anything): "
                           "give a global or unique-local address", 2)
    return str(addr)


def choose_source(topo: Topology, dest: str, wanted: str | None) -> Netns:
    """``--from`` by name or label; else a namespace with a route to DEST, pods first."""
    if wanted:
        ns = topo.find_netns(wanted)
        if ns is None:
            raise BrtraceError(f"unknown --from {wanted!r}: no such network namespace "
                               "(see `brtrace topo`)", 2)
        return ns
    cands = [ns for ns in topo.namespaces
             if not ns.is_init and not ns.owns_address(dest) and ns.route_for(dest) is not None]
    if not cands:
        raise BrtraceError(f"no network namespace has a route to {dest}; choose one with --from")

    def rank(ns: Netns) -> tuple[int, int, int, str]:
        """A namespace on DEST's own subnet (a connected route, no gateway) first:
        it reaches DEST directly, where one through its default route would
        show a detour; then pods, then brtrace's labs."""
        route = ns.route_for(dest)
        connected = route is not None and route.dst != "default" and not route.gateway
        pod = any(link_role(topo, ns, ln) in WORKLOAD_ROLES for ln in ns.links)
        return (0 if connected else 1, 0 if pod else 1, 0 if ns.name.startswith("brt-") else 1, ns.name)

    return min(cands, key=rank)


def source_address(ns: Netns, dest: str) -> str:
    route = ns.route_for(dest)
    if route and route.prefsrc:
        return route.prefsrc
    dev = ns.link(route.ifindex) if route else None
    fam = ipaddress.ip_address(dest).version
    for ln in ([dev] if dev else []) + list(ns.links):
        for a in ln.addresses:
            if a.family == fam and not ipaddress.ip_address(a.address).is_loopback \
                    and not ipaddress.ip_address(a.address).is_link_local:
                return a.address
    return ""


def netns_file(ns: Netns) -> str:
    if ns.name:
        return named_path(ns.name)
    if ns.is_init:
        return "/proc/1/ns/net"
    if ns.pids:
        return f"/proc/{ns.pids[0]}/ns/net"
    raise BrtraceError(f"cannot enter namespace {ns.label}")


def run_ping(topo: Topology, dest: str, src: Netns, count: int, interval: float,
             open_source: Callable[[TraceFilter], EventSource],
             on_batch: Callable[[Sequence[Event]], None] | None = None, size: int = 56) -> PingRun:
    src_addr = source_address(src, dest)
    run = PingRun(dest, src_addr, probe_id(), count)
    pinger = Pinger(netns_file(src), dest, count, interval, run.ident, size=size)
    pinger.check_route()
    flt = TraceFilter(icmp_id=run.ident, fib_addrs=tuple(a for a in (dest, src_addr) if a))
    source = open_source(flt)
    corr = Correlator()
    try:
        with _sigterm_as_interrupt():
            pinger.start()
            for batch in _pump(source, pinger):
                corr.feed(batch)
                run.events += len(batch)
                if on_batch:
                    on_batch(batch)
    except KeyboardInterrupt as exc:
        run.interrupted = interrupt.exit_code(exc)
        pinger.stop()
    finally:
        for batch in _drain(source):
            corr.feed(batch)
            run.events += len(batch)
        run.lost = source.stats().lost
        run.evicted = corr.evicted
        source.close()
    run.results = [probe_packet(corr, topo, run.ident, seq, pinger.times.rtt_ns.get(seq),
                                pinger.times.errors.get(seq, ""))
                   for seq in sorted(pinger.times.sent_ns)]
    return run


def _pump(source: EventSource, pinger: Pinger) -> Iterator[Sequence[Event]]:
    """Batches as the source gives them (a live batch stays lazy for the correlator)."""
    while not pinger.join(0):
        batch = source.poll(50)
        if batch:
            yield batch
    settle = time.monotonic() + 0.2  # late events of the last reply
    while time.monotonic() < settle:
        batch = source.poll(50)
        if batch:
            yield batch


def _drain(source: EventSource) -> Iterator[Sequence[Event]]:
    for _ in range(100):
        batch = source.poll(0)
        if not batch:
            return
        yield batch


class _sigterm_as_interrupt:
    """Let `kill` detach the probes as Ctrl-C does, also when the CLI did not
    install it for the whole process (the TUI's and the tests' callers)."""

    def __enter__(self) -> None:
        self._pid = os.getpid()
        self._old = signal.signal(signal.SIGTERM, self._handler) if _main_thread() else None

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    def _handler(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:  # a forked copy (pyroute2): die as SIGTERM says
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise interrupt.Terminated


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and os.name == "posix"
