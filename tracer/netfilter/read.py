"""Read netfilter rule counters inside a namespace: the I/O side of ``tracer.netfilter.rules``.

Only reads (``iptables-save -c``, ``nft -j list ruleset``), never changes a
rule. A namespace is entered the way the diagnosis tells a person to:
``ip netns exec NAME`` for a named one, ``nsenter -t PID -n`` for one only a
process holds. A tool that is missing or fails leaves that namespace unread:
the diagnosis then says the counters were not measured.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable

from tracer.filter import TraceFilter
from tracer.netfilter.rules import Counters, NfEntry, parse_iptables_save, parse_nft_json
from tracer.topology.model import Netns

_TIMEOUT_S = 5.0


def _prefix(ns: Netns) -> list[str] | None:
    if ns.is_init:
        return []
    if ns.name:
        return ["ip", "netns", "exec", ns.name]
    if ns.pids:
        return ["nsenter", "-t", str(ns.pids[0]), "-n"]
    return None


def _run(cmd: list[str]) -> str | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def read_netns(ns: Netns) -> tuple[NfEntry, ...] | None:
    """Every counted rule and policy in ``ns``; None when it could not be read."""
    pre = _prefix(ns)
    if pre is None:
        return None
    out: list[NfEntry] = []
    ok = False
    if shutil.which("iptables-save"):
        text = _run([*pre, "iptables-save", "-c"])
        if text is not None:
            ok = True
            out += parse_iptables_save(text)
    if shutil.which("nft"):
        text = _run([*pre, "nft", "-j", "list", "ruleset"])
        if text is not None:
            ok = True
            out += parse_nft_json(text)
    return tuple(out) if ok else None


def read_all(nss: Iterable[Netns]) -> dict[str, tuple[NfEntry, ...]]:
    """Counters of every namespace that could be read, by label (the hops' netns name)."""
    out: dict[str, tuple[NfEntry, ...]] = {}
    for ns in nss:
        got = read_netns(ns)
        if got is not None:
            out[ns.label] = got
    return out


NAT_VERDICTS = frozenset({"MASQUERADE", "SNAT", "DNAT"})


def has_nat(read: dict[str, tuple[NfEntry, ...]]) -> bool:
    """Whether any namespace read has a NAT rule: only then can NAT lose a matched packet."""
    return any(e.verdict.upper() in NAT_VERDICTS for es in read.values() for e in es)


def follow_nat(flt: TraceFilter, nss: Iterable[Netns]) -> tuple[TraceFilter, dict[str, tuple[NfEntry, ...]]]:
    """``flt`` following its match through NAT when a namespace has a NAT rule, and the
    counters read to decide (``trace`` keeps them as its "before")."""
    read = read_all(nss)
    return dataclasses.replace(flt, nat_follow=has_nat(read)), read


class LiveCounters:
    """Counters since a trace began, for ``trace``, which prints each packet while still tracing.

    ``ping`` reads the counters once after its probes; ``trace`` prints a
    packet about a second after it was seen, long before the trace ends, so
    the "after" side is read when a packet needs it (a NAT hop to name, a
    netfilter drop to attribute) and reused for ``every_s``: a namespace costs
    two tool runs per read, and a flood of drops must not become a flood of
    ``iptables-save``.
    """

    def __init__(self, nss: Iterable[Netns], every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 before: dict[str, tuple[NfEntry, ...]] | None = None) -> None:
        self._nss = tuple(nss)
        self._every, self._clock = every_s, clock
        self._before = read_all(self._nss) if before is None else before
        self._at: float | None = None
        self._now: Counters | None = None

    def now(self) -> Counters:
        """Counters from the start of the trace to (at most ``every_s`` before) now."""
        t = self._clock()
        if self._now is None or self._at is None or t - self._at >= self._every:
            self._now, self._at = Counters(self._before, read_all(self._nss)), t
        return self._now
