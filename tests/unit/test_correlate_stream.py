"""Nothing lost silently (issue 18, item 1): a long trace's journeys are handed
out as they finish, and what the bounds still forget is counted.

A 20-second synthetic flannel trace at 1,000 packets/s holds 360,000 events,
more than the correlator's default event bound (250,000): before the fix the
oldest ~6,000 packets vanished from ``trace --plain`` without a word.
"""

from __future__ import annotations

import io
import json

import numpy as np

from tests.support.synth import EVENTS_PER_PACKET, flannel_batch
from tracer.correlate.correlator import Correlator
from tracer.render.stream import EVICTED_TEXT, PacketPrinter
from tracer.schema.decode import Decoder
from tracer.topology.model import Topology

PACKETS = 20_000


def _batches(gap_ns: int, packets: int = PACKETS, per_batch: int = 500) -> list[np.ndarray]:
    n = EVENTS_PER_PACKET * per_batch
    return [flannel_batch(n, first_packet=k, pkt_gap_ns=gap_ns) for k in range(0, packets, per_batch)]


def test_streaming_hands_out_every_packet_of_a_long_trace() -> None:
    dec, corr, got = Decoder(), Correlator(), 0
    most_held = 0
    for arr in _batches(gap_ns=1_000_000):
        corr.feed(dec.decode(arr))
        got += len(corr.retire())
        most_held = max(most_held, sum(j.count for j in corr.journeys.values()))
    got += len(corr.flush())
    assert corr.evicted == 0
    assert got == PACKETS
    assert most_held <= 1_000 * EVENTS_PER_PACKET * 1.1  # about one second of packets


def test_under_pressure_done_journeys_go_out_early_not_evicted() -> None:
    """10 µs apart, 20,000 packets span 0.2 s: the event bound is met long before
    any journey is a second old, so retire hurries (HURRY_NS) instead."""
    dec, corr, got = Decoder(), Correlator(max_events=50_000), 0
    for arr in _batches(gap_ns=10_000):
        corr.feed(dec.decode(arr))
        got += len(corr.retire())
    got += len(corr.flush())
    assert corr.evicted == 0 and got == PACKETS


def test_what_the_bounds_forget_is_counted() -> None:
    dec, corr = Decoder(), Correlator()
    for arr in _batches(gap_ns=1_000_000):
        corr.feed(dec.decode(arr))
    assert corr.evicted > 0
    assert len(corr.journeys) + corr.evicted == PACKETS


def test_printer_counts_and_says_what_was_not_shown() -> None:
    dec, corr = Decoder(), Correlator(max_events=EVENTS_PER_PACKET * 100)
    out = io.StringIO()
    printer = PacketPrinter(Topology(namespaces=()), as_json=True, out=out)
    for k in range(0, 300, 50):
        corr.feed(dec.decode(flannel_batch(EVENTS_PER_PACKET * 50, first_packet=k)))
    printer.show(corr.flush())
    line = printer.summary(events=EVENTS_PER_PACKET * 300, lost=0, evicted=corr.evicted)
    objs = [json.loads(x) for x in out.getvalue().splitlines()]
    assert objs[-1]["type"] == "summary" and objs[-1]["evicted"] == corr.evicted > 0
    assert objs[-1]["packets"] == len(objs) - 1 == printer.printed
    assert printer.printed + corr.evicted == 300
    assert f"{corr.evicted} {EVICTED_TEXT}" in line


def test_tui_status_says_how_many_packets_were_not_shown() -> None:
    from tui.widgets.status import StatusFacts, status_text

    assert "not shown" not in status_text(StatusFacts()).plain
    text = status_text(StatusFacts(evicted=1234)).plain
    assert "1,234 packets not shown (evicted before completion)" in text
