"""The panels under the map: headers before and after each change, and the hop list.

The map shows where the packet went; these say what it looked like there.
Each header change gets a numbered card (``Δn``, the same number as the badge
on its marker) with the headers before and after; the hop list names every
hop with the same label as its marker, and its full action on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.render.inert import inert
from tracer.render.svg_geometry import PAD
from tracer.render.svg_headers import HeaderChange
from tracer.render.svg_marks import ARROW, COLOUR, DROP_COLOUR, REPLY, REQUEST, hop_label
from tracer.render.svg_xml import el, group

SMALL = 6.7  # width of one 11 px monospace character
LINE = 15.0


@dataclass(frozen=True, slots=True)
class Change:
    """A header change with the direction it happened in and its card number."""

    n: int
    direction: str
    change: HeaderChange


def _card_lines(c: Change) -> list[tuple[str, str]]:
    """(text, style) lines of one card; style is "head", "label" or ""."""
    h = c.change.hop
    out = [(f"Δ{c.n}  {ARROW[c.direction]}{h.index} {h.netns}/{h.dev}: {c.change.title}", "head"),
           ("before:", "label")]
    out += [(f"  {line}", "") for line in c.change.before.lines()]
    out.append(("after:", "label"))
    out += [(f"  {line}", "") for line in c.change.after.lines()]
    return out


def _card(c: Change, x: float, y: float, w: float) -> str:
    lines = _card_lines(c)
    parts = [el("rect", x=x, y=y, width=w, height=card_height(c), rx=6, fill="#fbfbf4",
                stroke=COLOUR[c.direction], stroke_width=1.5)]
    for i, (text, style) in enumerate(lines):
        parts.append(el("text", text, x=x + 8, y=y + 18 + i * LINE, font_size=11,
                        font_family="monospace", fill="#222222" if style != "label" else "#777777",
                        font_weight="bold" if style == "head" else "normal"))
    return group(parts, class_=f"header-change {c.direction}")


def card_height(c: Change) -> float:
    return len(_card_lines(c)) * LINE + 12


def card_width(c: Change) -> float:
    return max(len(inert(t)) for t, _ in _card_lines(c)) * SMALL + 16


def draw_changes(changes: Sequence[Change], y: float, width: float) -> tuple[list[str], float]:
    """Cards flowed left to right, wrapping at ``width``; returns them and the y below."""
    if not changes:
        return [], y
    out = [el("text", "where the headers change", x=PAD, y=y + 14, font_size=13,
              font_weight="bold", font_family="sans-serif")]
    x, y, tallest = PAD, y + 24, 0.0
    for c in changes:
        w, h = card_width(c), card_height(c)
        if x > PAD and x + w > width - PAD:
            x, y, tallest = PAD, y + tallest + PAD, 0.0
        out.append(_card(c, x, y, w))
        x, tallest = x + w + PAD, max(tallest, h)
    return out, y + tallest + PAD


def list_width(request: Sequence[Hop], reply: Sequence[Hop]) -> float:
    """Room for the longest hop label plus a readable part of its action."""
    labels = [len(inert(hop_label(REQUEST, h))) for h in request]
    labels += [len(inert(hop_label(REPLY, h))) for h in reply]
    return (max(labels, default=20) + 72) * SMALL + 2 * PAD


def draw_hop_list(request: Sequence[Hop], reply: Sequence[Hop], y: float,
                  width: float) -> tuple[list[str], float]:
    """Every hop: its label (as on its marker) and its action, cut to the width."""
    out: list[str] = []
    label_w = max([len(inert(hop_label(d, h))) for d, hs in ((REQUEST, request), (REPLY, reply))
                   for h in hs], default=0) + 2
    room = max(10, int((width - 2 * PAD) / SMALL) - label_w)
    for direction, hops in ((REQUEST, request), (REPLY, reply)):
        if not hops:
            continue
        out.append(el("text", direction, x=PAD, y=y + 14, font_size=13, font_weight="bold",
                      font_family="sans-serif", fill=COLOUR[direction]))
        y += 32
        for h in hops:
            out.append(_list_row(direction, h, y, label_w, room))
            y += LINE
        y += PAD
    return out, y


def full_action(h: Hop) -> str:
    """The hop's action, with the drop reason and location unless it already names them."""
    if h.verb != Verb.DROP or (h.reason and h.reason in h.action and h.location in h.action):
        return h.action
    return h.action + f" [reason {h.reason or '?'}, at {h.location or '?'}]"


def _list_row(direction: str, h: Hop, y: float, label_w: int, room: int) -> str:
    action = inert(full_action(h))
    cut = action if len(action) <= room else action[:room - 1] + "…"
    colour = DROP_COLOUR if h.verb == Verb.DROP else "#222222"
    return group([el("title", action),
                  el("text", hop_label(direction, h), x=PAD, y=y, font_size=11, font_family="monospace",
                     fill=COLOUR[direction], class_="hop-label"),
                  el("text", cut, x=PAD + label_w * SMALL, y=y, font_size=11, font_family="monospace",
                     fill=colour)], class_=f"hop-row {direction}")
