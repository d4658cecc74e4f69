"""Netfilter rules and chain policies with their counters, and what grew during a trace.

A drop reason of NETFILTER_DROP says only that *some* rule or policy
dropped. Which one is a measurement: the packet counters of every rule and
policy, read before and after the trace; those that grew and end in DROP or
REJECT are the ones that dropped. Pure: parses the tools' text, runs nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

DROPPING = frozenset({"DROP", "REJECT", "drop", "reject"})
_POLICY = re.compile(r"^:(\S+) (\S+) \[(\d+):(\d+)\]")
_RULE = re.compile(r"^\[(\d+):(\d+)\] (-A (\S+) .*)$")
_VERDICT = re.compile(r" -j (\S+)")


@dataclass(frozen=True, slots=True)
class NfEntry:
    """One rule (``number`` ≥ 1) or chain policy (``number`` 0) and its counters."""

    family: str  # "iptables" (iptables-save, legacy or nft backend) or "nft" (a native table)
    table: str
    chain: str
    number: int  # the rule's position in its chain (as `iptables -L --line-numbers` counts)
    spec: str  # "-A DOCKER-USER -i docker0 -j DROP", or the policy word, or nft's rule text
    verdict: str  # DROP, REJECT, ACCEPT, a target chain, "" when none
    packets: int
    bytes: int

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        return (self.family, self.table, self.chain, self.number, self.spec)

    @property
    def is_policy(self) -> bool:
        return self.number == 0

    @property
    def where(self) -> str:
        """'table filter, chain DOCKER-USER, rule 1' — how a person finds it."""
        at = "policy" if self.is_policy else f"rule {self.number}"
        return f"{self.family} table {self.table}, chain {self.chain}, {at}"


def parse_iptables_save(text: str) -> list[NfEntry]:
    """``iptables-save -c`` output → every policy and rule with its counters."""
    out: list[NfEntry] = []
    table = ""
    numbers: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            table, numbers = line[1:].strip(), {}
        elif (m := _POLICY.match(line)) and m.group(2) != "-":
            out.append(NfEntry("iptables", table, m.group(1), 0, m.group(2), m.group(2),
                               int(m.group(3)), int(m.group(4))))
        elif m := _RULE.match(line):
            chain = m.group(4)
            numbers[chain] = numbers.get(chain, 0) + 1
            v = _VERDICT.search(m.group(3))
            out.append(NfEntry("iptables", table, chain, numbers[chain], m.group(3),
                               v.group(1) if v else "", int(m.group(1)), int(m.group(2))))
    return out


def _nft_rule(r: dict[str, object], number: int) -> NfEntry | None:
    """One ``nft -j`` rule: counted only when it has a ``counter`` statement."""
    exprs = r.get("expr")
    if not isinstance(exprs, list):
        return None
    counter: dict[str, int] | None = None
    verdict = ""
    for e in exprs:
        if not isinstance(e, dict):
            continue
        if isinstance(e.get("counter"), dict):
            counter = e["counter"]
        for word in ("drop", "reject", "accept", "jump", "goto", "masquerade", "snat", "dnat"):
            if word in e:
                verdict = word
    if counter is None:
        return None
    spec = f"handle {r.get('handle', '?')}: " + " ".join(
        next(iter(e)) for e in exprs if isinstance(e, dict) and e)
    return NfEntry("nft", f"{r.get('family', '')} {r.get('table', '')}", str(r.get("chain", "")),
                   number, spec, verdict, int(counter.get("packets", 0)), int(counter.get("bytes", 0)))


def parse_nft_json(text: str) -> list[NfEntry]:
    """``nft -j list ruleset`` → its counted rules (a rule without ``counter`` cannot be measured).

    Tables iptables-nft made are skipped here: ``iptables-save -c`` reads
    those with their iptables names, which is how their owner wrote them.
    """
    try:
        items = json.loads(text).get("nftables", [])
    except (ValueError, AttributeError):
        return []
    out: list[NfEntry] = []
    numbers: dict[tuple[str, str, str], int] = {}
    for it in items:
        r = it.get("rule") if isinstance(it, dict) else None
        if not isinstance(r, dict) or str(r.get("table", "")) in _XT_TABLES:
            continue
        k = (str(r.get("family")), str(r.get("table")), str(r.get("chain")))
        numbers[k] = numbers.get(k, 0) + 1
        e = _nft_rule(r, numbers[k])
        if e is not None:
            out.append(e)
    return out


_XT_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})


@dataclass(frozen=True, slots=True)
class Growth:
    """A rule or policy whose counters grew during the trace."""

    entry: NfEntry  # as read after
    packets: int  # how many more it counted
    netns: str  # the namespace it was read in

    @property
    def drops(self) -> bool:
        return self.entry.verdict in DROPPING


@dataclass(frozen=True, slots=True)
class Counters:
    """Every namespace's rules read before and after a trace, by namespace label."""

    before: dict[str, tuple[NfEntry, ...]]
    after: dict[str, tuple[NfEntry, ...]]

    def grown(self, netns: str) -> list[Growth]:
        """The rules and policies in ``netns`` that counted packets during the trace."""
        old = {e.key: e.packets for e in self.before.get(netns, ())}
        out = []
        for e in self.after.get(netns, ()):
            if e.key in old and e.packets > old[e.key]:
                out.append(Growth(e, e.packets - old[e.key], netns))
        return out

    def read_in(self, netns: str) -> bool:
        return netns in self.before and netns in self.after

    def droppers(self, netns: str) -> list[Growth]:
        return [g for g in self.grown(netns) if g.drops]

    def nat(self, netns: str) -> list[Growth]:
        """NAT rules that counted packets (a NAT rule counts a connection's first packet)."""
        return [g for g in self.grown(netns)
                if g.entry.verdict.upper() in {"MASQUERADE", "SNAT", "DNAT"}]
