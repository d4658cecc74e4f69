"""Teaching mode as text lines: ``brtrace replay --explain [--lang L]``.

Every word is in the chosen language — headline, direction, each hop's
action and explanation, the diagnosis labels and the summary — and lines are
wrapped by terminal cells (:mod:`tracer.explain.wrap`), so none is wider
than ``width`` cells except a pasted shell command (the fix).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status
from tracer.diagnose import Diagnosis, diagnose
from tracer.explain.facts import packet_of
from tracer.explain.hop import action_text, explain
from tracer.explain.texts import Blank, fill, texts
from tracer.explain.wrap import cells, wrap_cells
from tracer.render.inert import inert
from tracer.topology.model import Topology

WIDTH = 100  # cells of the widest line


def headline(p: Packet, src: str, dest: str, lang: str = "en") -> str:
    """What the packet is and how it ended: an ARP frame says who-has / is-at."""
    t = texts(lang)
    status = t.get(f"status.{p.status}", str(p.status))
    kind = packet_of(next((h.events for h in p.hops if h.events and packet_of(h.events)), ()))
    sep = "：" if lang == "zh" else ": "
    if kind.startswith("arp") and f"head.{kind}" in t:
        e = next(e for h in p.hops for e in h.events if e.route is None and e.key.present)
        what = fill(lang, f"head.{kind}", src=e.key.src, dst=e.key.dst, src_mac=e.src_mac)
        return inert(f"{what}{sep}{status}")
    return inert(f"{src} → {dest}{sep}{status}")


def explain_lines(result: Packet, src: str, dest: str, lang: str = "en",
                  topo: Topology | None = None, width: int = WIDTH) -> list[str]:
    """A packet's hops, each followed by its explanation.

    With the recording's ``topo`` a packet that was not delivered ends with
    its diagnosis (cause, checks, fix): the teaching mode must not know less
    than ``--plain`` about why a packet died.
    """
    t = texts(lang)
    out = wrap_cells(headline(result, src, dest, lang), width)
    for name, hops in (("request", result.request), ("reply", result.reply)):
        if not hops:
            continue
        out.append("  " + t[f"head.{name}"])
        kind, tunnel = _kind(hops), _tunnel(hops)
        for h in hops:
            out += _hop_lines(h, lang, topo, kind, _dst(hops), tunnel, width)
    d = diagnose(result, topo) if topo is not None else None
    if d is not None:
        out += diagnosis_lines(d, lang, width)
    return out


def explain_in(h: Hop, hops: Sequence[Hop], lang: str = "en", topo: Topology | None = None) -> str:
    """``h`` explained with what its direction's ``hops`` know (the packet, its destination,
    its VXLAN outer destinations): the TUI's `e` says what ``--explain`` says."""
    return explain(h, lang, topo, _kind(hops), _dst(hops), _tunnel(hops))


def _kind(hops: Iterable[Hop]) -> str:
    return next((k for h in hops if (k := packet_of(h.events))), "")


def _tunnel(hops: Iterable[Hop]) -> frozenset[str]:
    """The outer destinations of the journey's VXLAN-encapsulated crossings."""
    return frozenset(e.outer.dst for h in hops for e in h.events if e.inner is not None)


def _dst(hops: Iterable[Hop]) -> str:
    """The packet's own (inner) destination, as its first event with a key says."""
    for h in hops:
        for e in h.events:
            if e.route is None and e.key.present:
                return e.key.dst
    return ""


def _hop_lines(h: Hop, lang: str, topo: Topology | None, kind: str, dst: str,
               tunnel: frozenset[str], width: int) -> list[str]:
    head = f"   {h.index:>2}. [{inert(h.netns)} {inert(h.dev)}] "
    body = wrap_cells(inert(action_text(h, lang, topo, kind)), width - cells(head)) or [""]
    out = [head + body[0], *(" " * cells(head) + x for x in body[1:])]
    text = inert(explain(h, lang, topo, kind, dst, tunnel))
    return out + ["       " + x for x in wrap_cells(text, width - 7)]


def diagnosis_lines(d: Diagnosis, lang: str = "en", width: int = WIDTH) -> list[str]:
    """The diagnosis in teaching mode's words: cause, each check made, the culprit, the fix."""
    t = texts(lang)
    out = ["  " + t["diagnosis.title"]]
    out += _field(t["diagnosis.cause"], d.cause_in(lang), width)
    for fact in d.evidence_in(lang):
        out += _field(t["diagnosis.checked"], fact, width)
    if d.culprit is not None:
        out += _field(t["diagnosis.culprit"], f"{d.culprit[0]}/{d.culprit[1]}", width)
    if d.fix:  # one line, whatever its length: it is pasted into a shell
        out.append(f"    {t['diagnosis.fix']}: {inert(d.fix)}")
    return out


def _field(label: str, text: str, width: int) -> list[str]:
    # names like bridge-nf-call-iptables or veth-pod-a are never split (wrap_cells keeps words)
    lead = 6 + cells(label)
    lines = wrap_cells(inert(text), width - lead) or [""]
    return [f"    {label}: {lines[0]}", *(" " * lead + x for x in lines[1:])]


def damage_lines(damage: str, lang: str = "en", width: int = WIDTH) -> list[str]:
    """What a damaged recording lost, said where the explanations are read."""
    text = texts(lang)["damage"].format_map(Blank(action=damage))
    return wrap_cells(inert(text), width)


def summary_line(packets: Iterable[Packet], lost: int, events: int, lang: str = "en") -> str:
    """The closing count: echo probes by how they ended, ARP frames and other packets apart."""
    ps = list(packets)
    probes = [p for p in ps if p.echo]
    arp = sum(1 for p in ps if p.what == "arp")
    other = len(ps) - len(probes) - arp
    key = "sum.probes"
    if not probes and other:  # a trace's recording: its packets are counted the same way
        probes, other, key = [p for p in ps if p.what != "arp"], 0, "sum.packets"
    n = {s: sum(1 for p in probes if p.status == s)
         for s in (Status.DELIVERED, Status.DROPPED, Status.UNANSWERED)}
    where = sorted({f"{p.drop.netns}/{p.drop.dev or '-'}" for p in probes if p.drop})
    at = fill(lang, "sum.at", where=", ".join(where)) if where else ""
    out = fill(lang, key, probes=str(len(probes)), delivered=str(n[Status.DELIVERED]),
               dropped=str(n[Status.DROPPED]), at=at, unanswered=str(n[Status.UNANSWERED]),
               events=str(events), lost=str(lost))
    out += fill(lang, "sum.arp", arp=str(arp)) if arp else ""
    out += fill(lang, "sum.other", other=str(other)) if other else ""
    return inert(out)
