"""Raw kernel batches in recordings (kind R): exact round trip, lazy replay, damage."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.support.synth import flannel_batch
from tests.unit.test_record import record_offsets
from tracer.correlate import Correlator, build_hops
from tracer.model import Event, Hook
from tracer.record import RecordWriter, ReplaySource, open_recording
from tracer.record import format as fmt
from tracer.record.raw import KIND_RAW, encode_raw
from tracer.schema.decode import Decoder, EventBatch
from tracer.source import SourceInfo
from tracer.topology.model import empty_topology

INFO = SourceInfo(live=True, topology=empty_topology())


def _kfree(arr: np.ndarray) -> np.ndarray:
    arr = arr.copy()
    arr["hook"][5] = int(Hook.KFREE_SKB)
    arr["drop_reason"][5] = 77
    arr["location"][5] = 0xFFFFFFFF81001234
    return arr


def _write(path: Path, arr: np.ndarray) -> list[Event]:
    dec = Decoder({77: "IP_INNOROUTES"}, lambda a: "ip_error+0x94" if a else "")
    batch = dec.decode(arr)
    with RecordWriter(path, INFO) as w:
        w.write_batch(batch)
    return list(dec.decode(arr))


def test_raw_batches_round_trip_exactly_and_stay_lazy(tmp_path: Path) -> None:
    arr = _kfree(flannel_batch(5000))
    want = _write(tmp_path / "r.brt", arr)
    rec = open_recording(tmp_path / "r.brt")
    batches = list(rec.batches())
    assert all(isinstance(b, EventBatch) for b in batches)
    assert [len(b) for b in batches] == [fmt.BATCH_EVENTS, 5000 - fmt.BATCH_EVENTS]
    got = [e for b in batches for e in b]
    assert got == want
    assert got[5].reason_name == "IP_INNOROUTES" and got[5].location_sym == "ip_error+0x94"
    assert rec.complete and rec.damage is None


def test_replay_of_raw_batches_correlates_like_the_events(tmp_path: Path) -> None:
    arr = flannel_batch(18 * 20)
    want = _write(tmp_path / "r.brt", arr)
    src = ReplaySource(tmp_path / "r.brt")
    lazy, eager = Correlator(), Correlator()
    while not src.exhausted:
        batch = src.poll(0)
        if not batch:
            break
        assert isinstance(batch, EventBatch)
        lazy.feed(batch)
    eager.feed(want)
    topo = empty_topology()
    assert len(lazy.journeys) == len(eager.journeys) == 20
    for a, b in zip(lazy.journeys.values(), eager.journeys.values(), strict=True):
        assert [h.action for h in build_hops(a, topo)] == [h.action for h in build_hops(b, topo)]


@pytest.mark.parametrize("field,value,needle", [
    ("hook", 999, "unknown hook id"),
    ("hdr_len", 4000, "capture length"),
])
def test_bad_raw_content_is_damage_not_a_crash(tmp_path: Path, field: str, value: int, needle: str) -> None:
    arr = flannel_batch(100)
    arr[field][50] = value
    path = tmp_path / "bad.brt"
    with RecordWriter(path, INFO) as w:
        w.write_batch(Decoder().decode(flannel_batch(10)))
        w._write_record(KIND_RAW, encode_raw(arr, Decoder()))  # a CRC-valid record with bad content
    rec = open_recording(path)
    kept = [e for b in rec.batches() for e in b]
    assert len(kept) == 10
    assert rec.damage and needle in rec.damage


def test_truncated_raw_record_keeps_what_came_before(tmp_path: Path) -> None:
    path = tmp_path / "t.brt"
    _write(path, flannel_batch(5000))
    data = path.read_bytes()
    rec = open_recording(io.BytesIO(data[: len(data) - 20000]))
    kept = sum(len(b) for b in rec.batches())
    assert kept == fmt.BATCH_EVENTS and rec.damage and "truncated" in rec.damage


def test_damaged_raw_record_keeps_its_verified_events(tmp_path: Path) -> None:
    """Schema 3 stores a sum per event: a flipped byte costs that event, not the record's 4096."""
    path = tmp_path / "s.brt"
    want = _write(path, _kfree(flannel_batch(5000)))
    data = bytearray(path.read_bytes())
    offs = [o for o in record_offsets(bytes(data)) if o < len(data) and data[o + 8:o + 9] == KIND_RAW]
    assert len(offs) == 2
    hit = offs[0] + (offs[1] - offs[0]) // 2  # the middle of the first record's events
    for i in range(8):
        data[hit + i] ^= 0xFF
    rec = open_recording(bytes(data))
    got = [e for b in rec.batches() for e in b]
    assert rec.complete and rec.damage is not None
    assert f"of its {fmt.BATCH_EVENTS} events verified and kept" in rec.damage
    lost = len(want) - len(got)
    assert 1 <= lost <= 2, "the 8 bytes touch one or two events"
    assert set(got) <= set(want) and got == [e for e in want if e in set(got)]
    assert rec.report.lost(rec.end_stats) == lost


def test_raw_record_without_sums_is_not_salvaged(tmp_path: Path) -> None:
    """Before schema 4 there is no check per event: the damaged record is skipped whole."""
    import msgspec

    arr = flannel_batch(100)
    payload = msgspec.msgpack.decode(encode_raw(arr, Decoder()))
    del payload["sums"]
    old = msgspec.msgpack.encode(payload)
    path = tmp_path / "o.brt"
    with RecordWriter(path, INFO) as w:
        w._write_record(KIND_RAW, old)
        w._write_record(KIND_RAW, old)
    data = bytearray(path.read_bytes())
    offs = [o for o in record_offsets(bytes(data)) if o < len(data) and data[o + 8:o + 9] == KIND_RAW]
    data[offs[0] + 2000] ^= 0x10
    rec = open_recording(bytes(data))
    assert sum(len(b) for b in rec.batches()) == 100 and rec.complete
    assert rec.damage is not None and "verified" not in rec.damage
