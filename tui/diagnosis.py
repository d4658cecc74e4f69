"""The selected packet's drop diagnosis, for the hop detail, the status line and the map.

``brtrace ping --plain`` ends a dropped probe with the cause, the facts
checked and the fix; a reviewer replaying the same recording in the TUI must
see no less. This computes a packet's :class:`~tracer.diagnose.Diagnosis`
once per state of the packet (diagnosing reads the whole topology) and turns
it into ``Text`` — inert, since causes quote device names from the kernel.
No textual here: the widgets only place these lines.
"""

from __future__ import annotations

from rich.text import Text

from tracer.correlate import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status
from tracer.diagnose import Diagnosis, diagnose
from tracer.explain import texts
from tracer.explain.texts import Blank
from tracer.render.inert import inert
from tracer.topology.model import Topology

DevKey = tuple[int, int]
CAUSE_STYLE, FIX_STYLE = "bold red", "bold green"


class Diagnoses:
    """Diagnoses by packet, recomputed only when the packet's status or hops change."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self._cache: dict[int, tuple[tuple[str, int, int], Diagnosis | None]] = {}

    def get(self, p: Packet | None) -> Diagnosis | None:
        """The diagnosis of a packet that was dropped (or an echo that got no answer)."""
        if p is None or p.status in (Status.DELIVERED, Status.IN_FLIGHT):
            return None
        if not p.echo and p.status != Status.DROPPED:
            return None  # no reply is expected of a non-echo packet
        state = (str(p.status), len(p.request), len(p.reply))
        hit = self._cache.get(p.pid)
        if hit is not None and hit[0] == state:
            return hit[1]
        d = diagnose(p, self.topo)
        self._cache[p.pid] = (state, d)
        return d


def culprit_key(d: Diagnosis | None) -> DevKey | None:
    """The map key of the device at fault, when it is not where the packet died."""
    if d is None or d.culprit is None:
        return None
    return (d.culprit[2], d.culprit[3])


def detail_lines(d: Diagnosis, hop: Hop | None, teach: str | None = None) -> list[Text]:
    """The diagnosis under the hop detail's headline.

    On the hop where the packet died (or was last seen): the cause, the fix,
    then each fact checked and the culprit. On the packet's other hops one
    line points there, so the cause is never a scroll away.
    """
    t = texts(teach or "en")
    cause = d.cause_in(teach or "en")
    where = d.hop.index if d.hop is not None else "?"
    if hop is not None and d.hop is not None and hop != d.hop:
        line = Text(t["diagnosis.at-hop"].format_map(Blank(index=str(where))) + ": ", style="bold")
        line.append(inert(cause), style=CAUSE_STYLE)
        return [line]
    out = [Text(inert(t["diagnosis.title"]), style="bold")] if teach else []
    out.append(_field(t["diagnosis.cause"], cause, CAUSE_STYLE))
    if d.fix:
        out.append(_field(t["diagnosis.fix"], d.fix, FIX_STYLE))
    if d.culprit is not None:
        out.append(_field(t["diagnosis.culprit"], f"{d.culprit[0]}/{d.culprit[1]}", "bold yellow"))
    out += [_field(t["diagnosis.checked"], fact, "") for fact in d.evidence_in(teach or "en")]
    return out


def _field(label: str, value: str, style: str) -> Text:
    line = Text(f"  {label}: ", style="bold")
    line.append(inert(value), style=style)
    return line


def status_text(d: Diagnosis | None, teach: str | None = None) -> str:
    """One line for the status bar: the cause and, when known, the command that fixes it
    (in teaching mode's language when it is on)."""
    if d is None:
        return ""
    lang = teach or "en"
    return d.cause_in(lang) + (f" — {texts(lang)['diagnosis.fix']}: {d.fix}" if d.fix else "")
