"""Step playback as text: a packet's hops one at a time, each with the headers that changed at it.

``brtrace replay FILE --plain --step`` prints one chunk, then waits for a key
(or ``--step-ms``); the chunks are made here, pure, so the CLI only decides
when to print the next one. Hop lines are the rows of ``hop_table`` (the
same columns as ``--plain``), so a stepped replay reads like the whole one.
"""

from __future__ import annotations

from collections.abc import Iterator

from tracer.correlate.pairing import Packet
from tracer.render.hopdiff import hop_diffs
from tracer.render.text import directions, probe_text
from tracer.topology.model import Topology

DIFF_INDENT = " " * 10


def step_chunks(p: Packet, src: str, dest: str, topo: Topology | None = None) -> Iterator[list[str]]:
    """The heading (with the column names), then one chunk per hop: its row and its header diff;
    last, what ``--plain`` says after the tables (where it was dropped, the diagnosis)."""
    whole = probe_text(p, src, dest, topo)
    lead = [whole[0]]
    shown = 1
    for name, hops, table in directions(p):  # the tables --plain prints, t and all
        shown += 1 + len(table)
        if not hops:
            yield [*lead, f"  {name}:", *table]
            lead = []
            continue
        yield [*lead, f"  {name}:", table[0]]
        lead = []
        diffs = hop_diffs(hops)
        for h, row in zip(hops, table[1:], strict=True):
            diff = diffs.get(h.index)
            notes = diff.lines() if diff else []
            yield [row, *(DIFF_INDENT + ("↳ " if i == 0 else "  ") + n for i, n in enumerate(notes))]
    if whole[shown:]:
        yield whole[shown:]
