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


def test_plain_shows_salvage_then_damage_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
