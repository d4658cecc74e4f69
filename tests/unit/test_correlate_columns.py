"""The correlator's column reader (tracer/correlate/columns.py) against the plain definitions.

Packet keys from the packed key words must be ``packet_key`` of every built
Event; the per-skb bookkeeping must match a loop over the events.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.synth import flannel_batch
from tests.unit.test_correlate_batch import mixed
from tracer.correlate.columns import columns, key_ids, key_tuples, last_by, prev_on_skb
from tracer.correlate.journey import packet_key
from tracer.schema.decode import Decoder
from tracer.schema.event import record_dtype


def batches() -> list[np.ndarray]:
    shuffled = mixed(3000, 4)
    shuffled = shuffled[np.random.default_rng(4).permutation(len(shuffled))]
    ring = np.zeros(500, dtype=record_dtype())
    ring["ev"] = flannel_batch(500)
    return [flannel_batch(900), mixed(3000, 3), shuffled, ring["ev"], mixed(600, 5)[::-1]]


@pytest.mark.parametrize("i", range(5))
def test_keys_are_packet_keys(i: int) -> None:
    arr = batches()[i]
    cols = columns(arr)
    order = cols.records(np.arange(len(arr)))
    assert (np.diff(cols.ts.astype(np.int64)) >= 0).all()
    kid, first = key_ids(cols.hi, cols.lo)
    keys = key_tuples(cols.hi[first], cols.lo[first])
    assert (np.diff(first) > 0).all() and (kid[first] == np.arange(len(first))).all()
    events = Decoder().decode_all(arr)
    for p, k in enumerate(kid.tolist()):
        ev = events[order[p]]
        assert keys[k] == packet_key(ev)
        assert (cols.skb[p], cols.cpu[p], cols.hook[p]) == (ev.skb, ev.cpu, int(ev.hook))
        assert cols.key_dst_rec[order[p]] == ev.key.daddr
        assert cols.fib_dst_rec[order[p]] == ev.outer.daddr


def test_previous_matched_event_on_each_skb() -> None:
    rng = np.random.default_rng(7)
    skb = rng.integers(0, 12, 400).astype(np.uint64)
    matched = rng.random(400) < 0.6
    prev, skbs, last = prev_on_skb(skb, matched)
    seen: dict[int, int] = {}
    for p, s in enumerate(skb.tolist()):
        assert prev[p] == seen.get(s, -1)
        if matched[p]:
            seen[s] = p
    assert dict(zip(skbs.tolist(), last.tolist(), strict=True)) == seen
    cpus, at = last_by(skb[matched] % 3, np.flatnonzero(matched))
    want = {c: p for c, p in zip((skb[matched] % 3).tolist(), np.flatnonzero(matched).tolist(), strict=True)}
    assert dict(zip(cpus.tolist(), at.tolist(), strict=True)) == want
