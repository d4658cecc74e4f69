"""Recording format: round trip, flush-as-you-go, damaged tails, replay pacing."""

from __future__ import annotations

import builtins
import pickle
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

import tracer.record as record_pkg
from tracer.errors import BrtraceError
from tracer.model import Event, Hook, HookMode, HookStatus, L4Key, Route, SourceStats
from tracer.record import (
    MAGIC,
    SCHEMA_VERSION,
    LiveRecorder,
    RecordWriter,
    ReplaySource,
    open_recording,
)
from tracer.record import format as fmt
from tracer.source import SourceInfo
from tracer.topology.model import (
    Address,
    BridgePort,
    FdbEntry,
    Link,
    Netns,
    PeerRef,
    RouteEntry,
    Topology,
    VxlanInfo,
)

POD_A, HOST = 4026532001, 4026531840


def topology() -> Topology:
    pod = Netns("brt-pod-a", POD_A, links=(
        Link(2, "eth0", "veth", mac="02:00:00:00:00:0a", peer=PeerRef(HOST, 5),
             addresses=(Address("10.244.0.2", 24),)),),
        routes=(RouteEntry("default", gateway="10.244.0.1", ifindex=2),),
        sysctls=(("net.ipv4.ip_forward", "0"),), pids=(1234,))
    host = Netns("", HOST, is_init=True, links=(
        Link(3, "cni0", "bridge"),
        Link(4, "flannel.1", "vxlan", vxlan=VxlanInfo(1, local="192.168.0.1")),
        Link(5, "veth-pod-a", "veth", master=3, bridge_port=BridgePort(), peer=PeerRef(POD_A, 2))),
        fdb=(FdbEntry(4, "02:00:00:00:00:0b", dst="192.168.0.2"),))
    return Topology(namespaces=(pod, host), taken_at=1700000000.5, hostname="node1")


def info() -> SourceInfo:
    return SourceInfo(live=True, topology=topology(), kernel="6.1.0-brt",
                      hooks=(HookStatus(Hook.NET_DEV_QUEUE, HookMode.RAW_TRACEPOINT),
                             HookStatus(Hook.VXLAN_XMIT, HookMode.KPROBE, "vxlan_xmit+0x0")),
                      filter="icmp and host 10.244.1.3", command="ping -c 1 10.244.1.3")


def event(i: int) -> Event:
    """Events that exercise every optional part: inner keys, routes, drops, L3 headers."""
    kind = i % 5
    return Event(
        ts_ns=10**18 + i * 1000, cpu=i % 4, hook=list(Hook)[i % len(Hook)],
        skb=0xFFFF888000000000 + i, netns=(POD_A, HOST)[i % 2], ifindex=2 + i % 3,
        ifname=("eth0", "cni0", "flannel.1", "vëth-ü")[i % 4], length=98 + i,
        src_mac="02:00:00:00:00:0a", dst_mac="ff:ff:ff:ff:ff:ff", ethertype=0x800,
        vlan=i % 2, outer=L4Key(0x0200F40A, 0x0301F40A, 1, i, 64, 7, i % 65536, 8, 0),
        vni=1 if kind == 1 else 0,
        inner=L4Key(1, 2, 17, 3, 4, 5, 6, 7, 8) if kind == 1 else None,
        inner_src_mac="02:00:00:00:00:01" if kind == 1 else "",
        drop_reason=2 if kind == 2 else 0, location=0xFFFFFFFF81000000 if kind == 2 else 0,
        reason_name="NOT_SPECIFIED" if kind == 2 else "",
        location_sym="br_handle_frame+0x1c4" if kind == 2 else "",
        route=Route(254, 0, 0, 3, 4, 0x0100F40A) if kind == 3 else None,
        fdb_mac="02:00:00:00:00:0b" if kind == 4 else "", fdb_vlan=kind, pkt_type=i % 3,
        headers=bytes((i + k) % 256 for k in range(i % 80)), headers_l3=kind == 3,
    )


def events(n: int, start: int = 0) -> list[Event]:
    return [event(i) for i in range(start, start + n)]


def write(path: Path, batches: Sequence[Sequence[Event]], close: bool = True) -> RecordWriter:
    w = RecordWriter(path, info(), created=1700000001.25)
    for b in batches:
        w.write_batch(b)
    if close:
        w.close()
    return w


def record_offsets(data: bytes) -> list[int]:
    """Start offset of every record, plus the end of the file."""
    out, off = [], fmt.PREAMBLE.size
    while off < len(data):
        out.append(off)
        off += fmt.RECORD_HEAD.size + struct.unpack_from("<I", data, off)[0]
    return [*out, off]


def layout_offsets(data: bytes) -> list[int]:
    """``record_offsets`` without the header's copy (schema 4): header, batches…, trailer, end."""
    return [o for o in record_offsets(data)
            if o >= len(data) or data[o + 8:o + 9] != fmt.KIND_HEADER_COPY]


def test_round_trip(tmp_path: Path) -> None:
    batches = [events(3), events(700, 3), events(1, 703)]
    write(tmp_path / "r.brt", batches)
    with open_recording(tmp_path / "r.brt") as rec:
        assert rec.schema_version == SCHEMA_VERSION == 6
        assert rec.info == info()
        assert rec.info.topology == topology()
        assert rec.created == 1700000001.25
        assert [list(b) for b in rec] == batches
        assert rec.events() == [e for b in batches for e in b]
        assert rec.damage is None and rec.complete
        assert rec.end_stats == SourceStats(events=704, lost=0, batches=3)


def test_round_trip_keeps_types(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(10)])
    got = open_recording(tmp_path / "r.brt").events()
    assert all(type(e.hook) is Hook and type(e.outer) is L4Key for e in got)
    assert {type(e.route) for e in got} == {Route, type(None)}
    assert all(type(e.headers) is bytes and type(e.headers_l3) is bool for e in got)


def test_header_only_and_big_batches_split(tmp_path: Path) -> None:
    write(tmp_path / "empty.brt", [])
    with open_recording(tmp_path / "empty.brt") as rec:
        assert rec.events() == [] and rec.complete and rec.damage is None
    big = events(fmt.BATCH_EVENTS * 2 + 5)
    write(tmp_path / "big.brt", [big])
    with open_recording(tmp_path / "big.brt") as rec:
        assert [len(b) for b in rec] == [fmt.BATCH_EVENTS, fmt.BATCH_EVENTS, 5]
        assert rec.events() == big


def test_readable_while_writer_is_open(tmp_path: Path) -> None:
    w = write(tmp_path / "live.brt", [events(5)], close=False)
    with open_recording(tmp_path / "live.brt") as rec:
        assert rec.events() == events(5)
        assert rec.damage is None and not rec.complete
    w.write_batch(events(2, 5))
    assert open_recording(tmp_path / "live.brt").events() == events(7)
    w.close(SourceStats(events=7, lost=3, batches=2))
    w.close()  # idempotent
    with open_recording(tmp_path / "live.brt") as rec:
        rec.events()
        assert rec.complete and rec.end_stats == SourceStats(events=7, lost=3, batches=2)


def test_truncated_tail_keeps_whole_batches(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(4), events(6, 4), events(5, 10)])
    data = (tmp_path / "r.brt").read_bytes()
    offs = layout_offsets(data)  # header, 3 batches, trailer, end
    cut = offs[3] + 20  # inside the third batch
    rec = open_recording(data[:cut])
    assert rec.events() == events(10)
    size = offs[4] - offs[3] - 9
    assert rec.damage == f"truncated last record at byte {offs[3]} (11 of {size} bytes): kept 10 events"
    assert not rec.complete
    rec = open_recording(data[:offs[3] + 3])  # inside the record head itself
    assert rec.events() == events(10)
    assert rec.damage == f"truncated last record at byte {offs[3]}: kept 10 events"


def test_corrupted_byte_costs_only_that_record(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(4), events(6, 4), events(5, 10)])
    data = bytearray((tmp_path / "r.brt").read_bytes())
    offs = layout_offsets(bytes(data))
    data[offs[2] + 30] ^= 0x40
    rec = open_recording(bytes(data))
    assert rec.events() == events(4) + events(5, 10)
    assert rec.complete, "the trailer after the damage is read too"
    assert rec.damage == (f"corrupted record at byte {offs[2]} (checksum mismatch); skipped "
                          f"{offs[3] - offs[2]} bytes, resynchronised at byte {offs[3]}: "
                          "kept 9 events, lost 6 of 15 recorded")
    assert rec.report.lost(rec.end_stats) == 6 and rec.report.bytes_skipped == offs[3] - offs[2]


def test_damaged_length_resynchronises_by_scanning(tmp_path: Path) -> None:
    """A flipped length field hides where the next record is: the reader searches for it."""
    write(tmp_path / "r.brt", [events(4), events(6, 4), events(5, 10), events(3, 15)])
    data = bytearray((tmp_path / "r.brt").read_bytes())
    offs = layout_offsets(bytes(data))
    data[offs[2]:offs[2] + 4] = struct.pack("<I", 17)  # a plausible but wrong length
    data[offs[4] + 40] ^= 0x01  # and a second damaged record further on
    rec = open_recording(bytes(data))
    assert rec.events() == events(4) + events(5, 10)
    assert rec.complete and [s.offset for s in rec.report.spans] == [offs[2], offs[4]]
    assert [s.resumed for s in rec.report.spans] == [offs[3], offs[5]]
    assert rec.damage is not None and rec.damage.endswith(
        "2 damaged records, " f"{offs[3] - offs[2] + offs[5] - offs[4]} bytes skipped: "
        "kept 9 events, lost 9 of 18 recorded")


def test_corrupted_length_is_caught(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(4), events(6, 4)])
    data = bytearray((tmp_path / "r.brt").read_bytes())
    offs = layout_offsets(bytes(data))
    data[offs[2]:offs[2] + 4] = struct.pack("<I", 0xFFFFFFF0)
    rec = open_recording(bytes(data))
    assert rec.events() == events(4)
    assert rec.damage is not None and "impossible length" in rec.damage
    assert rec.complete and rec.damage.endswith("lost 6 of 10 recorded")


def test_valid_checksum_but_bad_content_is_damage(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(3)], close=False).close()
    data = (tmp_path / "r.brt").read_bytes()
    offs = layout_offsets(data)
    junk = fmt.frame(fmt.KIND_BATCH, b"\x93\x01\x02") + b"\x93\x01\x02"
    unknown = fmt.frame(b"Z", b"future") + b"future"  # newer record kinds are skipped
    rec = open_recording(data[:offs[2]] + unknown + junk + data[offs[2]:])
    assert rec.events() == events(3)
    assert rec.damage is not None
    assert re.fullmatch(r"undecodable batch at byte \d+ \(.+\); skipped \d+ bytes, "
                        r"resynchronised at byte \d+: kept 3 events", rec.damage)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty, not a brtrace recording"),
    (b"\x89BR", "is truncated before its header"),
    (MAGIC, "is truncated before its header"),
    (b"hello world, this is text\n", "is not a brtrace recording (bad magic bytes)"),
    (b"\x0a\x0d\x0d\x0a" + bytes(40), "is a pcap/pcapng capture, not a brtrace recording"),
    (fmt.PREAMBLE.pack(MAGIC, 8) + bytes(20),
     "has recording schema_version 8; this brtrace reads schema_version 1, 2, 3, 4, 5, 6 "
     "(made by a newer brtrace?)"),
    (fmt.preamble(), "is truncated before its header"),
    (fmt.preamble() + fmt.frame(fmt.KIND_BATCH, b"\x90") + b"\x90",
     "first record is not a header; not a brtrace recording"),
    (fmt.preamble() + fmt.frame(fmt.KIND_HEADER, b"\x90") + b"\x90", "bad header record: "),
    (fmt.preamble() + b"\x05\x00", "header record is damaged: truncated last record at byte 12"),
])
def test_not_a_recording(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "f.brt"
    p.write_bytes(content)
    with pytest.raises(BrtraceError) as exc:
        open_recording(p)
    assert str(exc.value).startswith(f"{p}: {message}")
    assert "\n" not in str(exc.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BrtraceError, match="cannot read recording .*: No such file"):
        open_recording(tmp_path / "nope.brt")
    with pytest.raises(BrtraceError, match="cannot read recording"):
        open_recording(tmp_path)


def test_bad_topology_in_header_is_one_line_error() -> None:
    header = fmt.encode_header(info(), 0.0, "test")
    header = header.replace(b"brt-pod-a", b"brt-pod-b")  # still valid: sanity check
    assert open_recording(fmt.preamble() + fmt.frame(fmt.KIND_HEADER, header) + header)
    import msgspec
    d = msgspec.msgpack.decode(header)
    d["topology"] = {"namespaces": [{"inode": "x"}]}
    bad = msgspec.msgpack.encode(d)
    with pytest.raises(BrtraceError, match=r"bad header record: bad topology snapshot \(KeyError"):
        open_recording(fmt.preamble() + fmt.frame(fmt.KIND_HEADER, bad) + bad)


def test_unknown_hook_in_header_is_dropped() -> None:
    import msgspec
    d = msgspec.msgpack.decode(fmt.encode_header(info(), 0.0, "test"))
    d["hooks"].append([999, "kprobe", "from the future"])
    h = msgspec.msgpack.encode(d)
    assert open_recording(fmt.preamble() + fmt.frame(fmt.KIND_HEADER, h) + h).info == info()


def test_writer_errors_are_brtrace_errors(tmp_path: Path) -> None:
    with pytest.raises(BrtraceError, match="cannot write recording"):
        RecordWriter(tmp_path / "no" / "dir.brt", info())
    w = write(tmp_path / "r.brt", [])
    with pytest.raises(BrtraceError, match="already closed"):
        w.write_batch(events(1))


def test_undecodable_strings_are_recorded_not_fatal(tmp_path: Path) -> None:
    from dataclasses import replace
    bad = replace(event(1), ifname="eth\udcff0")
    write(tmp_path / "r.brt", [[event(0), bad]])
    got = open_recording(tmp_path / "r.brt").events()
    assert got[0] == event(0) and got[1].ifname == "eth\ufffd0"


def test_reader_never_unpickles_or_evals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "r.brt", [events(20)])

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("content must never be evaluated")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    with open_recording(tmp_path / "r.brt") as rec:
        assert rec.events() == events(20)
    src = ReplaySource(tmp_path / "r.brt")
    assert len(src.poll()) == 20
    src.close()


def test_record_modules_do_not_mention_pickle_or_eval() -> None:
    """Docstrings may say "no pickle"; code may not import or call any of these."""
    unsafe = re.compile(r"\b(import|from)\s+(pickle|cPickle|marshal|shelve|dill|yaml)\b"
                        r"|\b(pickle|marshal|shelve|dill|yaml)\.\w+|\b(eval|exec|compile)\s*\("
                        r"|__import__|importlib")
    pkg = Path(record_pkg.__file__).parent
    paths = sorted(pkg.glob("*.py"))
    assert {p.name for p in paths} >= {"format.py", "reader.py", "writer.py", "pcap.py"}
    for path in paths:
        found = unsafe.search(path.read_text())
        assert found is None, f"{path.name}: {found.group(0) if found else ''}"


def test_replay_source_as_fast_as_possible(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(5), events(10, 5)])
    src = ReplaySource(tmp_path / "r.brt", max_batch=4)
    assert src.info == SourceInfo(**{**{f: getattr(info(), f) for f in
                                       ("topology", "hooks", "kernel", "filter", "command")},
                                     "live": False})
    got: list[Event] = []
    sizes = []
    while not src.exhausted:
        b = src.poll(0)
        sizes.append(len(b))
        got.extend(b)
    assert got == events(15) and max(sizes) <= 4
    assert src.poll() == [] and src.exhausted
    assert src.stats() == SourceStats(events=15, lost=0, batches=len(sizes))
    src.close()
    src.close()
    assert src.poll() == [] and src.exhausted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_replay_source_paced_by_timestamps(tmp_path: Path) -> None:
    from dataclasses import replace
    base = [replace(event(i), ts_ns=10**12 + t) for i, t in
            enumerate((0, 1_000_000, 5_000_000, 5_000_000, 400_000_000))]
    write(tmp_path / "r.brt", [base[:2], base[2:]])
    clock = FakeClock()
    src = ReplaySource(tmp_path / "r.brt", speed=2.0, clock=clock, sleep=clock.sleep)
    assert src.poll(100) == base[:1]  # the first event is due at once
    assert src.poll(100) == base[1:2] and clock.sleeps[-1] == pytest.approx(0.0005)
    assert src.poll(100) == base[2:4]  # two with the same timestamp come together
    assert src.poll(100) == [] and clock.sleeps[-1] == pytest.approx(0.1)  # not due yet
    assert not src.exhausted
    assert src.poll(1000) == base[4:] and clock.now == pytest.approx(100.2)
    assert src.exhausted


def test_replay_speed_must_be_positive(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [])
    with pytest.raises(BrtraceError, match="speed must be greater than 0"):
        ReplaySource(tmp_path / "r.brt", speed=0)


class FakeLive:
    def __init__(self, batches: list[list[Event]]) -> None:
        self.batches, self.closed = batches, False

    @property
    def info(self) -> SourceInfo:
        return info()

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        return self.batches.pop(0) if self.batches else []

    @property
    def exhausted(self) -> bool:
        return not self.batches

    def stats(self) -> SourceStats:
        return SourceStats(events=9, lost=2, batches=2)

    def close(self) -> None:
        self.closed = True


def test_live_recorder_tees_batches(tmp_path: Path) -> None:
    live = FakeLive([events(4), [], events(5, 4)])
    rec = LiveRecorder(live, tmp_path / "tee.brt")
    seen: list[Event] = []
    while not rec.exhausted:
        seen.extend(rec.poll(10))
    rec.close()
    assert live.closed and seen == events(9)
    with open_recording(tmp_path / "tee.brt") as r:
        assert r.events() == events(9) and r.info == info()
        assert r.end_stats == SourceStats(events=9, lost=2, batches=2)


def test_second_header_and_bad_trailer_are_damage(tmp_path: Path) -> None:
    write(tmp_path / "r.brt", [events(2), events(3, 2)])
    data = (tmp_path / "r.brt").read_bytes()
    offs = layout_offsets(data)
    header = data[offs[0]:record_offsets(data)[1]]  # the header record alone
    rec = open_recording(data[:offs[2]] + header + data[offs[2]:])
    assert rec.events() == events(5), "the batch after the stray header is kept"
    assert rec.damage == (f"unexpected second header at byte {offs[2]}; skipped "
                          f"{len(header)} bytes, resynchronised at byte "
                          f"{offs[2] + len(header)}: kept 5 events")
    bad_end = fmt.frame(fmt.KIND_END, b"\x01") + b"\x01"
    rec = open_recording(data[:offs[3]] + bad_end)
    assert rec.events() == events(5) and not rec.complete
    assert rec.damage is not None
    assert rec.damage.startswith(f"bad trailer record at byte {offs[3]} (")


def test_resync_skips_megabytes_of_junk_quickly(tmp_path: Path) -> None:
    """A long garbage stretch (a torn copy, a disk error) costs a scan, not the rest of the file."""
    import os
    import time

    write(tmp_path / "r.brt", [events(4), events(6, 4)])
    data = (tmp_path / "r.brt").read_bytes()
    offs = layout_offsets(data)
    junk = os.urandom(4 << 20)
    t0 = time.perf_counter()
    rec = open_recording(data[:offs[2]] + junk + data[offs[2]:])
    assert rec.events() == events(10) and rec.complete
    assert time.perf_counter() - t0 < 3.0
    assert rec.report.spans[0].skipped == len(junk)
