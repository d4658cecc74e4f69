"""A damaged recording from a bug report: salvage, say what was lost everywhere, exit 1 (issue 20, item 2).

Eight bytes flipped in the middle of a real sample (``samples/flannel-ping.brt``,
whose middle is inside an event batch): every later record must survive, and
every view — plain, JSON, explain, export — must show what was salvaged, then
say what the damage cost, and the exit status must be 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_json_schema import validate
from tests.unit.test_record import record_offsets
from tracer.cli.main import main
from tracer.record import open_recording

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "flannel-ping.brt"


def flipped(tmp_path: Path, sample: Path = SAMPLE) -> tuple[Path, int]:
    data = bytearray(sample.read_bytes())
    mid = len(data) // 2
    for i in range(8):
        data[mid + i] ^= 0xFF
    out = tmp_path / f"damaged-{sample.name}"
    out.write_bytes(bytes(data))
    return out, mid


def test_later_records_survive(tmp_path: Path) -> None:
    path, mid = flipped(tmp_path)
    offs = record_offsets(SAMPLE.read_bytes())  # header, batches…, trailer, end
    hit = max(i for i, o in enumerate(offs[:-1]) if o <= mid)
    assert 1 <= hit < len(offs) - 3, "the middle of the sample is inside an event batch"
    with open_recording(SAMPLE) as good:
        per_record = [len(b) for b in good.batches()]
    with open_recording(path) as rec:
        kept = [len(b) for b in rec.batches()]
        assert rec.complete, "the trailer after the damage is read"
        lost = rec.report.lost(rec.end_stats)
        damage = rec.damage
    # every record but the damaged one, in order
    assert kept == per_record[:hit - 1] + per_record[hit:]
    later = per_record[hit:]
    assert len(later) >= 2 and kept[-len(later):] == later, "every later record survived"
    assert sum(kept) > sum(per_record) / 2, "most of the recording survived"
    assert lost == per_record[hit - 1] > 0
    assert damage == (f"corrupted record at byte {offs[hit]} (checksum mismatch); skipped "
                      f"{offs[hit + 1] - offs[hit]} bytes, resynchronised at byte {offs[hit + 1]}: "
                      f"kept {sum(kept)} events, lost {lost} of {sum(per_record)} recorded")


def test_plain_shows_salvage_then_damage_and_exits_1(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = flipped(tmp_path)
    assert main(["replay", str(path), "--plain"]) == 1
    cap = capsys.readouterr()
    assert "probe seq 2" in cap.out and "probe seq 3" in cap.out and "DELIVERED" in cap.out
    last = cap.out.rstrip().splitlines()[-1]
    assert last.startswith("damaged recording: corrupted record at byte") and "lost 46 of 141" in last
    assert cap.out.index("probe seq 3") < cap.out.index("damaged recording")
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"brtrace: warning: {path}: corrupted record")
    assert "Traceback" not in cap.err


def test_json_summary_says_what_was_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = flipped(tmp_path)
    assert main(["replay", str(path), "--json"]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    validate(lines)
    summary = lines[-1]
    assert [p["seq"] for p in lines[:-1] if p["seq"] is not None] == [2, 3]
    d = summary["damage"]
    assert (d["events_kept"], d["events_lost"], d["events_recorded"]) == (95, 46, 141)
    assert d["spans"][0]["resumed_at_byte"] > d["spans"][0]["at_byte"] and d["bytes_skipped"] > 0


def test_explain_says_what_was_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = flipped(tmp_path)
    assert main(["replay", str(path), "--explain"]) == 1
    out = capsys.readouterr().out
    assert "This recording is damaged: corrupted record" in out
    assert "lost 46 of 141 recorded" in " ".join(out.split())
    assert main(["replay", str(path), "--explain", "--lang", "zh"]) == 1
    assert "此记录文件已损坏" in capsys.readouterr().out


def test_export_of_damaged_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = flipped(tmp_path)
    assert main(["export", str(path), "--pcap", str(tmp_path / "d.pcapng")]) == 1
    err = capsys.readouterr().err
    assert "wrote" in err and "lost 46 of 141 recorded" in err
    assert err.index("wrote") < err.index("warning")


def test_intact_sample_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(SAMPLE), "--plain"]) == 0
    cap = capsys.readouterr()
    assert "damaged" not in cap.out and cap.err == ""


def _flip_middle(data: bytes, lo: int, hi: int) -> bytes:
    out = bytearray(data)
    mid = (lo + hi) // 2
    for i in range(8):
        out[mid + i] ^= 0xFF
    return bytes(out)


def test_header_damage_in_an_old_sample_keeps_the_events(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """bridge-drop.brt (schema 2, no header copy) is mostly its header: its middle is in there."""
    sample = ROOT / "samples" / "bridge-drop.brt"
    path, mid = flipped(tmp_path, sample)
    assert mid < record_offsets(sample.read_bytes())[1], "the middle is inside the header"
    assert main(["replay", str(path), "--plain"]) == 1
    cap = capsys.readouterr()
    assert "probe seq 1" in cap.out and "DROPPED" in cap.out and "netns:" in cap.out
    assert "topology snapshot lost" in cap.out.splitlines()[-1]
    assert "kept 6 events" in cap.err


def test_header_damage_is_restored_from_its_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A recording written now (schema 4) keeps a copy of its header: the diagnosis survives."""
    from tracer.record import RecordWriter

    sample = ROOT / "samples" / "bridge-drop.brt"
    with open_recording(sample) as old:
        events, info, created = old.events(), old.info, old.created
    fresh = tmp_path / "fresh.brt"
    with RecordWriter(fresh, info, created=created) as w:
        w.write_batch(events)
    data = fresh.read_bytes()
    offs = record_offsets(data)
    assert data[offs[1] + 8:offs[1] + 9] == b"C" and offs[2] - offs[1] == offs[1] - offs[0]
    damaged = tmp_path / "damaged.brt"
    damaged.write_bytes(_flip_middle(data, offs[0], offs[1]))  # the middle of the header itself
    assert main(["replay", str(damaged), "--plain"]) == 1
    cap = capsys.readouterr()
    assert "fix: ip netns exec brt-bridge-host bridge link set dev veth20 state 3" in cap.out
    assert "the header: restored from its copy" in cap.err and "kept 6 events" in cap.err
    with open_recording(damaged) as rec:
        assert rec.info == info and rec.events() == events and rec.complete
    # and a damaged copy costs nothing but the note
    copy_hit = tmp_path / "copy.brt"
    copy_hit.write_bytes(_flip_middle(data, offs[1], offs[2]))
    with open_recording(copy_hit) as rec:
        assert rec.events() == events and rec.info == info
        assert rec.damage is not None and rec.damage.startswith(f"corrupted record at byte {offs[1]}")


def test_header_damage_in_json_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = flipped(tmp_path, ROOT / "samples" / "bridge-drop.brt")
    assert main(["replay", str(path), "--json"]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    validate(lines)
    d = lines[-1]["damage"]
    assert d["header"].startswith("topology snapshot lost") and d["events_kept"] == 6
    from tracer.record import ReplaySource

    src = ReplaySource(path)
    while not src.exhausted:
        src.poll(0)
    assert src.damage_brief == ("kept 6 events; 1 damaged record (22763 bytes) from byte 12; header: "
                                "topology snapshot lost (namespaces shown by inode, no diagnosis)")
    src.close()
