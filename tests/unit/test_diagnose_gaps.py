"""Diagnosis gaps of issue 18 (item 7): a down device on the path is named as the
cause, and "last seen at hop N" agrees with the hops listed after it."""

from __future__ import annotations

import dataclasses

from tests.unit.test_diagnose import FAULTS, ROOT, load
from tracer.correlate.vocab import Status
from tracer.diagnose import diagnose
from tracer.topology.model import Topology


def _with_link_down(topo: Topology, netns: str, dev: str) -> Topology:
    spaces = []
    for ns in topo.namespaces:
        if ns.label == netns:
            ns = dataclasses.replace(ns, links=tuple(
                dataclasses.replace(ln, state="down") if ln.name == dev else ln for ln in ns.links))
        spaces.append(ns)
    return dataclasses.replace(topo, namespaces=tuple(spaces))


def test_a_down_device_explains_a_no_route_drop() -> None:
    """The route-missing drop (IP_INNOROUTES in node1), with flannel.1 down in the
    snapshot: the kernel removed the routes through it, flannel.1 is the cause."""
    p, topo, _ = load(FAULTS / "route-missing.brt")
    d = diagnose(p, _with_link_down(topo, "node1", "flannel.1"))
    assert d is not None and d.kind == "link-down", d
    assert "flannel.1" in d.cause and d.fix == "ip netns exec brt-node1 ip link set dev flannel.1 up"


def test_without_a_down_device_the_route_rule_still_answers() -> None:
    p, topo, _ = load(FAULTS / "route-missing.brt")
    d = diagnose(p, topo)
    assert d is not None and d.kind == "no-route"


def test_last_seen_names_the_hops_listed_after_it() -> None:
    p, topo, _ = load(ROOT / "samples" / "flannel-ping.brt")
    cut = next(i for i, h in enumerate(p.request) if h.verb == "route" and i > 3) + 1
    q = dataclasses.replace(p, status=Status.UNANSWERED, request=p.request[:cut], reply=())
    d = diagnose(q, topo)
    assert d is not None
    last = q.request[-1]
    assert any(f"hop {last.index} " in f for f in d.evidence), d.evidence
