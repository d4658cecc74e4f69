"""One hop's explanation (and, in a translation, its action), written from the hop's facts.

The text for a hop is chosen by its verb and what brtrace knows about it:
the packet (an ARP request is not an echo request), the device (a veth that
is a bridge port), the namespace (pod, container, plain netns, host, node);
sentences are added only for facts that are known (the veth's other end, a
NAT rewrite). No hedging ("if X is a bridge port"): a fact brtrace lacks
selects a text that does not claim it.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.explain.facts import Facts, hop_facts
from tracer.explain.texts import Blank, texts
from tracer.topology.model import HOST_LABEL, Topology

_LATIN_CJK = re.compile(r"([A-Za-z0-9_)\]])([\u4e00-\u9fff])")
_CJK_LATIN = re.compile(r"([\u4e00-\u9fff])([A-Za-z0-9_(\[])")
# verbs whose text is chosen by the packet first (ARP, echo request/reply)
_BY_PACKET = frozenset({Verb.SEND, Verb.DELIVER, Verb.ROUTE, Verb.ROUTE_LOCAL, Verb.BRIDGE_UP,
                        Verb.BRIDGE_FLOOD})


def _where(f: Facts, lang: str, netns: str, place: str) -> str:
    t = texts(lang)
    if netns == HOST_LABEL and place == "host":
        return t["ns.init"]
    return t.get(f"ns.{place}", t["ns.unknown"]).format_map(Blank(netns=netns))


def _values(f: Facts, lang: str, hop: Hop) -> Blank:
    v = Blank({k: str(x) for k, x in asdict(f).items()})
    v["where"] = _where(f, lang, f.netns, f.place)
    v["Where"] = v["where"][:1].upper() + v["where"][1:]
    peer_ns = f.peer.split("/", 1)[0]
    v["peer_where"] = _where(f, lang, peer_ns, f.peer_place) if f.peer else ""
    v["via"] = texts(lang)["act.via"].format_map(v) if f.route_via else ""
    v["action"] = hop.action
    v["bridge"] = f.bridge or (hop.dev if hop.kind == "bridge" else "?")
    v["bridge_addr"] = f.bridge_addr or "?"
    return v


def _keys(hop: Hop, f: Facts, tunnel: frozenset[str]) -> list[str]:
    """Text keys to try, most specific first."""
    verb = str(hop.verb)
    keys: list[str] = []
    if hop.verb == Verb.ROUTE_LOCAL and f.route_dst in tunnel:
        keys.append(f"{verb}.outer")  # the lookup routed the outer (VXLAN) header, not the packet
    elif hop.verb in _BY_PACKET and f.packet:
        keys.append(f"{verb}.{f.packet}")
    if hop.verb == Verb.VETH_CROSS and f.bridge and f.dev_kind == "veth":
        keys.append(f"{verb}.port")
    if hop.verb == Verb.RECV and "conntrack" in hop.action:
        keys.append(f"{verb}.conntrack")
    return keys + [verb]


def explain(hop: Hop, lang: str = "en", topo: Topology | None = None, packet: str = "",
            pkt_dst: str = "", tunnel: frozenset[str] = frozenset()) -> str:
    """The hop in the seed notes' terms.

    What the journey knows helps hops whose own events do not say it: ``packet``
    (what it carries) for a route lookup, ``pkt_dst`` (its destination) for a
    hop deduced without an event, ``tunnel`` (its VXLAN outer destinations) to
    tell a lookup of the outer header from one of the packet.
    """
    t = texts(lang)
    f = hop_facts(hop, topo, packet)
    v = _values(f, lang, hop)
    if not f.dst and pkt_dst:  # an inferred hop has no event: the journey's destination
        v["dst"] = pkt_dst
    key = next((k for k in _keys(hop, f, tunnel) if k in t), "_unknown")
    out = [t[key].format_map(v)]
    if hop.verb == Verb.SEND and f.peer and f.dev_kind == "veth" and not f.packet.startswith("arp"):
        out.append(t["x.veth-peer"].format_map(v))
    if hop.verb == Verb.ROUTE and f.route_onlink and f.route_via:
        out.append(t["x.onlink"].format_map(v))
    if f.nat_source:
        out.append(t["nat.source"].format_map(v))
    if f.nat_dest:
        out.append(t["nat.dest"].format_map(v))
    if any(e.key.is_ndp for e in hop.events):  # IPv6's ARP (tracer/ndp.py)
        out.append(t["ndp"])
    return _spaced(("" if lang == "zh" else " ").join(out), lang)


def action_text(hop: Hop, lang: str = "en", topo: Topology | None = None, packet: str = "") -> str:
    """The hop's action: the correlator's own sentence in English, else written from the facts."""
    if lang == "en":
        return hop.action
    t = texts(lang)
    f = hop_facts(hop, topo, packet)
    v = _values(f, lang, hop)
    keys = [f"act.{k}" for k in _keys(hop, f, frozenset())]
    if hop.verb == Verb.SEND and f.peer:
        keys.insert(0, f"act.{hop.verb}.peer")
    key = next((k for k in keys if k in t), "")
    if not key:
        return hop.action
    text = t[key].format_map(v)
    if f.nat_source:
        text += t["act.nat.source"].format_map(v)
    if f.nat_dest:
        text += t["act.nat.dest"].format_map(v)
    return _spaced(text, lang)


def _spaced(text: str, lang: str) -> str:
    """Chinese typesetting: a space between a name or number and the Chinese around it."""
    if lang == "en":
        return text
    text = _LATIN_CJK.sub(r"\1 \2", text)
    return _CJK_LATIN.sub(r"\1 \2", text)
