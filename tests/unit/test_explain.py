"""Teaching mode: every verb explained from the hop's own facts, in English and Chinese (issue 21)."""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tracer.correlate import Correlator, Hop, build_hops
from tracer.correlate.vocab import Verb
from tracer.errors import BrtraceError
from tracer.explain import action_text, explain, texts
from tracer.explain.facts import hop_facts
from tracer.record.reader import open_recording
from tracer.topology.model import Topology

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples").glob("*.brt"))
FAULTS = sorted((ROOT / "tests/data/faults").glob("*.brt"))
LANGS = sorted(p.name.split(".")[1] for p in (ROOT / "tracer/data").glob("explain.*.json"))

# The facts each verb's explanation must name (Facts field names, or the hop's netns/dev).
NAMED: dict[Verb, tuple[str, ...]] = {
    Verb.SEND: ("netns", "dev"), Verb.VETH_CROSS: ("netns", "dev"), Verb.FDB_LEARN: ("dev", "mac", "bridge"),
    Verb.BRIDGE_FLOOD: ("bridge",), Verb.BRIDGE_OUT: ("dev", "bridge", "peer"),
    Verb.DELIVER: ("netns", "dev", "dst"), Verb.BRIDGE_UP: ("netns", "bridge", "bridge_addr"),
    Verb.ROUTE: ("netns", "route_dst", "route_out"), Verb.ROUTE_LOCAL: ("netns", "route_dst"),
    Verb.BRIDGE_FORWARD: ("bridge",), Verb.CONSUMED: ("reason",), Verb.DROP: ("reason", "location"),
    Verb.RECV: ("netns", "dev"), Verb.BRIDGE_XMIT: ("netns", "bridge"), Verb.ENCAP: ("dev", "vni", "port"),
    Verb.SEND_ENCAP: ("dev", "outer_src", "outer_dst"), Verb.RECV_ENCAP: ("dev", "outer_src", "outer_dst"),
    Verb.DECAP: ("dev", "src", "dst"), Verb.ROUTE_FAIL: ("netns", "route_dst"), Verb.FREE_COPY: ("reason",),
    Verb.LEFT: ("netns",), Verb.ENTERED: ("netns",), Verb.ADDR_CHECK: ("netns", "route_dst"),
    Verb.BRNF_ROUTE: ("netns", "route_dst", "route_out"),
}
# Technical words kept in English in the Chinese text (names of things, not sentences).
ENGLISH_RUN = re.compile(r"[A-Za-z]+(?:[ ,'-]+[A-Za-z]+){2,}")


def _hops(path: Path) -> tuple[list[Hop], Topology]:
    rec = open_recording(path)
    corr = Correlator()
    for batch in rec.batches():
        corr.feed(batch)
    return [h for j in corr.journeys.values() for h in build_hops(j, rec.info.topology)], rec.info.topology


def _one_hop_per_verb() -> dict[Verb, tuple[Hop, Topology]]:
    """A real hop of every verb the recordings show; the rest made as the code that emits
    them does (tracer/multinode/edges.py: a real hop with the verb replaced)."""
    found: dict[Verb, tuple[Hop, Topology]] = {}
    for path in SAMPLES + FAULTS:
        hops, topo = _hops(path)
        for h in hops:
            found.setdefault(h.verb, (h, topo))
    drop, dtopo = found[Verb.DROP]
    found.setdefault(Verb.FREE_COPY, (replace(drop, verb=Verb.FREE_COPY), dtopo))
    route, rtopo = found[Verb.ROUTE]  # as tracer/correlate/hops.py relabels a lookup with no input device
    found.setdefault(Verb.ADDR_CHECK, (replace(route, verb=Verb.ADDR_CHECK), rtopo))
    send, stopo = found[Verb.SEND]
    found.setdefault(Verb.LEFT, (replace(send, verb=Verb.LEFT, kind="edge"), stopo))
    found.setdefault(Verb.ENTERED, (replace(send, verb=Verb.ENTERED, kind="edge"), stopo))
    return found


HOPS = _one_hop_per_verb()


def test_every_verb_has_named_facts() -> None:
    assert set(NAMED) == set(Verb), "a new verb needs its facts here and a text in every language"
    assert set(HOPS) == set(Verb)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("verb", list(Verb), ids=str)
def test_every_verb_names_its_facts(verb: Verb, lang: str) -> None:
    hop, topo = HOPS[verb]
    facts = asdict(hop_facts(hop, topo))
    text = explain(hop, lang, topo)
    assert "{" not in text and text != hop.action, text
    for name in NAMED[verb]:
        value = str(facts[name] or (hop.dev if name == "bridge" else ""))
        assert value and value in text, f"{verb} ({lang}): {name}={value!r} not in {text!r}"
    if lang == "zh":
        rest = text
        for value in sorted({str(v) for v in (*facts.values(), hop.netns, hop.dev) if v}, key=len,
                            reverse=True):
            rest = rest.replace(value, " ")
        assert not ENGLISH_RUN.search(rest), f"{verb}: English left in {text!r}"
        action = action_text(hop, lang, topo)
        for value in sorted({str(v) for v in facts.values() if v}, key=len, reverse=True):
            action = action.replace(value, " ")
        assert not ENGLISH_RUN.search(action), f"{verb}: English action {action!r}"


def test_no_generic_or_hedged_text() -> None:
    """Issue 21 item 3: nothing brtrace knows better than to say."""
    for path in SAMPLES:
        hops, topo = _hops(path)
        for h in hops:
            text = explain(h, "en", topo)
            assert "cni0/docker0" not in text and "A container's eth0" not in text
            assert not re.search(r"\bif \S+ is a bridge port", text)
            assert "waiting socket" not in text


def test_echo_answered_by_the_kernel_after_the_lookup() -> None:
    """The echo request is answered by icmp_echo, said at the lookup that decides delivery."""
    hops, topo = _hops(ROOT / "samples/flannel-ping.brt")
    pairs = [(h, hops[i + 1]) for i, h in enumerate(hops[:-1])
             if h.verb == Verb.DELIVER and hops[i + 1].verb == Verb.ROUTE_LOCAL]
    assert pairs
    for arrival, lookup in pairs:  # the actions too: 'delivered' where it is decided
        assert "delivered" not in arrival.action and "addressed to" in arrival.action
        assert lookup.action.endswith("is local, delivered here")
    for i, h in enumerate(hops[:-1]):
        if h.verb == Verb.DELIVER and hops[i + 1].verb == Verb.ROUTE_LOCAL:
            assert "icmp_echo" not in explain(h, "en", topo)
            if h.events and h.events[0].key.icmp_type == 8:
                assert "icmp_echo" in explain(hops[i + 1], "en", topo, "echo-request")


def test_nat_reply_is_conntrack_at_prerouting() -> None:
    hops, topo = _hops(ROOT / "samples/docker-nat.brt")
    dest = [h for h in hops if "NAT rewrote destination" in h.action]
    src = [h for h in hops if "NAT rewrote source" in h.action]
    assert dest and src
    for h in dest:
        text = explain(h, "en", topo)
        assert "conntrack" in text and "PREROUTING" in text and "rewrote the destination" in text
        assert "rewrote the source" not in text
    assert all("POSTROUTING" in explain(h, "en", topo) for h in src)


def test_namespaces_named_by_what_they_are() -> None:
    hops, topo = _hops(ROOT / "samples/flannel-ping.brt")
    send = next(h for h in hops if h.verb == Verb.SEND and h.netns == "pod-a")
    assert explain(send, "en", topo).startswith("Network namespace pod-a")  # a lab netns, not a pod
    bridge_up = next(h for h in hops if h.verb == Verb.BRIDGE_UP)
    assert "node node1" in explain(bridge_up, "en", topo) or "node node2" in explain(bridge_up, "en", topo)


def test_every_text_key_is_used() -> None:
    """A text keyed by a verb nothing emits (a renamed verb) would never be shown."""
    prefixes = {*Verb, "diagnosis", "diag", "ns", "x", "act", "head", "status", "sum", "nat", "ndp"}
    stale = sorted(k for k in texts() if k not in {"_unknown", "damage"}
                   and k.split(".")[0] not in prefixes)
    assert not stale
    assert all(f"act.{v}" in texts() for v in Verb)
    # a diagnosis's words: each said("name", …) by a rule in tracer/diagnose
    rules = "".join(f.read_text() for f in (ROOT / "tracer/diagnose").glob("*.py"))
    unsaid = sorted(k for k in texts() if k.startswith("diag.")
                    and f'"{k.removeprefix("diag.")}"' not in rules)
    assert not unsaid


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(BrtraceError, match="no explanations for language"):
        texts("xx")
    with pytest.raises(BrtraceError):
        texts("../etc")


def test_translations_have_the_same_keys_as_english() -> None:
    en = set(texts("en"))
    for lang in LANGS:
        assert set(texts(lang)) == en, lang


def test_replay_explain_cli_needs_no_root(capsys: pytest.CaptureFixture[str]) -> None:
    from tracer.cli.main import main

    assert main(["replay", str(ROOT / "samples/docker-nat.brt"), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "MASQUERADE" in out and "veth pair" in out
    assert main(["replay", str(ROOT / "samples/docker-nat.brt"), "--explain", "--lang", "xx"]) == 2


def test_onlink_said_only_where_the_gateway_is_off_subnet() -> None:
    hops, topo = _hops(ROOT / "samples/flannel-ping.brt")
    routes = [h for h in hops if h.verb == Verb.ROUTE]
    vxlan = [h for h in routes if "onlink" in h.action]
    assert vxlan and all("The route is onlink" in explain(h, "en", topo) for h in vxlan)
    assert all("onlink" not in explain(h, "en", topo) for h in routes if h not in vxlan)


def test_wrap_keeps_names_and_brackets_whole() -> None:
    from tracer.explain.wrap import cells, wrap_cells

    text = "网桥 bridge-nf-call-iptables 由网络插件（flannel）填好 veth-pod-a 的地址 10.244.0.2。" * 3
    for width in (26, 31, 44):  # wider than the longest name (a wider name alone is cut)
        lines = wrap_cells(text, width)
        assert all(cells(x) <= width for x in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        for name in ("bridge-nf-call-iptables", "veth-pod-a", "10.244.0.2", "（flannel）"):
            assert sum(x.count(name) for x in lines) == 3, (width, name, lines)
        assert not any(x.endswith("（") or x.startswith(("。", "）")) for x in lines)
