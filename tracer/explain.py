"""Teaching mode: a short explanation per hop, in the seed notes' terms.

The text lives in ``tracer/data/explain.<lang>.json`` (English by default), so
a translation is a data file, not code. Templates are filled with
``str.format_map`` over plain strings only — no evaluation of anything.
"""

from __future__ import annotations

import json
import textwrap
from functools import lru_cache
from pathlib import Path

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.diagnose import Diagnosis, diagnose
from tracer.errors import BrtraceError
from tracer.render.inert import inert
from tracer.topology.model import Topology

DATA = Path(__file__).with_name("data")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@lru_cache(maxsize=8)
def texts(lang: str = "en") -> dict[str, str]:
    path = DATA / f"explain.{lang}.json"
    if not lang.isalnum() or not path.exists():
        have = sorted(p.name.split(".")[1] for p in DATA.glob("explain.*.json"))
        raise BrtraceError(f"no explanations for language {lang!r} (have: {', '.join(have)})", 2)
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith("_") or k == "_unknown"}


def explain(hop: Hop, lang: str = "en") -> str:
    t = texts(lang)
    values = _Blank(netns=hop.netns, dev=hop.dev, action=hop.action)
    template = t.get(f"{hop.verb}.{hop.kind}") or t.get(hop.verb) or t["_unknown"]
    text = template.format_map(values)
    if "NAT rewrote" in hop.action and "nat" in t:
        text += " " + t["nat"]
    if "ndp" in t and any(e.key.is_ndp for e in hop.events):  # IPv6's ARP (tracer/ndp.py)
        text += " " + t["ndp"]
    return text


def explain_lines(result: Packet, src: str, dest: str, lang: str = "en",
                  topo: Topology | None = None) -> list[str]:
    """A probe's hops, each followed by its explanation: ``brtrace replay --explain``.

    With the recording's ``topo`` a probe that was not delivered ends with its
    diagnosis (cause, checks, fix): the teaching mode must not know less than
    ``--plain`` about why a packet died.
    """
    out = [f"{inert(src)} → {inert(dest)}: {result.status}"]
    for name, hops in (("request", result.request), ("reply", result.reply)):
        if not hops:
            continue
        out.append(f"  {name}:")
        for h in hops:
            out.append(f"   {h.index:>2}. [{inert(h.netns)} {inert(h.dev)}] {inert(h.action)}")
            out += ["       " + line for line in textwrap.wrap(inert(explain(h, lang)), 92)]
    d = diagnose(result, topo) if topo is not None else None
    if d is not None:
        out += diagnosis_lines(d, lang)
    return out


def diagnosis_lines(d: Diagnosis, lang: str = "en") -> list[str]:
    """The diagnosis in teaching mode's words: cause, each check made, the culprit, the fix."""
    t = texts(lang)
    out = ["  " + t["diagnosis.title"]]
    out += _field(t["diagnosis.cause"], d.cause)
    for fact in d.evidence:
        out += _field(t["diagnosis.checked"], fact)
    if d.culprit is not None:
        out += _field(t["diagnosis.culprit"], f"{d.culprit[0]}/{d.culprit[1]}")
    if d.fix:  # one line, whatever its length: it is pasted into a shell
        out.append(f"    {t['diagnosis.fix']}: {inert(d.fix)}")
    return out


def _field(label: str, text: str) -> list[str]:
    # names like bridge-nf-call-iptables or veth-pod-a must not be split at their hyphens
    lines = textwrap.wrap(inert(text), 88 - len(label), break_on_hyphens=False,
                          break_long_words=False) or [""]
    return [f"    {label}: {lines[0]}", *(" " * (6 + len(label)) + x for x in lines[1:])]


def damage_lines(damage: str, lang: str = "en") -> list[str]:
    """What a damaged recording lost, said where the explanations are read."""
    text = texts(lang)["damage"].format_map(_Blank(action=damage, netns="", dev=""))
    return textwrap.wrap(inert(text), 96)
