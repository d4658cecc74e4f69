"""The correlator's vectorised path (lazy EventBatch) files exactly as one event at a time.

Synthetic flannel batches (tests/support/synth.py) mixed with ICMP echo/reply, ARP and
keyless events, interleaved and shuffled, in several batch sizes: every
journey must get the same events either way.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from tests.support.synth import flannel_batch
from tracer.correlate.correlator import Correlator
from tracer.correlate.journey import PacketKey
from tracer.model import ETH_P_ARP
from tracer.schema.decode import Decoder, EventBatch
from tracer.schema.event import F_INNER


def mixed(n: int, seed: int) -> np.ndarray:
    arr = flannel_batch(n, pkt_gap_ns=700)
    rng = np.random.default_rng(seed)
    key = np.where((arr["flags"] & F_INNER) != 0, 1, 0)
    pkt = np.arange(n) // 18
    icmp = (pkt % 5 == 1)
    for field, k in (("outer", 0), ("inner", 1)):
        sel = icmp & (key == k)
        arr[field]["proto"][sel] = 1
        arr[field]["icmp_type"][sel] = np.where(pkt[sel] % 2, 8, 0)
        arr[field]["sport"][sel] = 0xB7 + 0
        arr[field]["dport"][sel] = pkt[sel] // 2
    arp = pkt % 7 == 3
    arr["ethertype"][arp & (key == 0)] = ETH_P_ARP
    arr["outer"]["proto"][arp & (key == 0)] = 0
    arr["inner"]["proto"][arp & (key == 1)] = 0
    none = rng.random(n) < 0.01
    arr["outer"]["proto"][none & (key == 0)] = 0
    arr["outer"]["saddr"][none & (key == 0)] = 0
    return arr


def signature(c: Correlator) -> list[tuple[PacketKey, tuple[tuple[int, int, int], ...]]]:
    return sorted((j.key, tuple(sorted((e.ts_ns, int(e.hook), e.skb) for e in j.events)))
                  for j in c.journeys.values())


@pytest.mark.parametrize("seed,shuffle,size", [(1, False, 1000), (2, True, 700), (3, True, 4096)])
def test_batch_path_equals_event_path(seed: int, shuffle: bool, size: int) -> None:
    arr = mixed(6000, seed)
    if shuffle:  # CPUs interleave in the ring: events arrive out of time order
        arr = arr[np.random.default_rng(seed).permutation(len(arr))]
    dec = Decoder()
    fast, slow = Correlator(), Correlator()
    for k in range(0, len(arr), size):
        batch = dec.decode(arr[k:k + size])
        assert isinstance(batch, EventBatch)
        fast.feed(batch)
        slow.feed(list(dec.decode(arr[k:k + size])))
    assert signature(fast) == signature(slow)
    assert fast.unmatched == slow.unmatched
    assert {k[0] for k, _ in signature(fast)} >= {"ip", "icmp", "arp"}


def test_bounded_by_events() -> None:
    dec = Decoder()
    corr = Correlator(max_events=5000)
    for k in range(10):
        corr.feed(dec.decode(flannel_batch(3600, first_packet=k * 200)))
    held = sum(len(j.events) for j in corr.journeys.values())
    assert 5000 - 18 * 200 <= held <= 5000 + 3600


def test_what_it_holds_is_out_of_the_cyclic_collectors_sight() -> None:
    """At a flood the collector's oldest generation walked every held journey
    with the GIL held (15-50 ms), the ring drain thread waited, the ring
    overflowed: the correlator freezes what it holds as it goes."""
    dec, corr = Decoder(), Correlator()
    frozen = gc.get_freeze_count()
    events = flannel_batch(18 * 6000)
    for k in range(0, len(events), 4096):
        corr.feed(dec.decode(events[k:k + 4096]))
    assert len(corr.journeys) == 6000
    # each journey, its event list and its runs sit in the permanent generation
    assert gc.get_freeze_count() - frozen >= 2 * 5000
