"""A live recording (schema 4) damaged as a bug report's attachment might be: eight bytes
flipped in the middle of the file, or in the middle of its events. Replay keeps all but the
damaged events, says what was lost and exits 1 (issue 20, item 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_json_schema import validate
from tests.unit.test_record import record_offsets
from tracer.record import open_recording
from tracer.schema.recording import SCHEMA_VERSION

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    for i in range(8):
        out[at + i] ^= 0xFF
    return bytes(out)


def _replay(path: Path) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    proc = subprocess.run([BRTRACE, "replay", str(path), "--json"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert "Traceback" not in proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    validate(lines)
    return proc.returncode, lines


def test_live_recording_survives_flipped_bytes(flannel_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = tmp_path / "live.brt"
    proc = subprocess.run([BRTRACE, "ping", "10.244.1.3", "--from", "pod-a", "-c", "3", "-i", "0.2",
                           "--plain", "--record", str(rec)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    data = rec.read_bytes()
    with open_recording(rec) as good:
        total = len(good.events())
        assert good.schema_version == SCHEMA_VERSION and good.complete
    rc, lines = _replay(rec)
    assert rc == 0 and lines[-1]["delivered"] == 3 and lines[-1]["damage"] is None
    raws = [o for o in record_offsets(data) if o < len(data) and data[o + 8:o + 9] == b"R"]
    assert raws, "live batches are stored raw"
    offs = record_offsets(data)
    ends = dict(zip(offs[:-1], offs[1:], strict=True))
    for at in (len(data) // 2, (raws[0] + ends[raws[0]]) // 2):
        damaged = tmp_path / f"damaged-{at}.brt"
        damaged.write_bytes(_flip(data, at))
        rc, lines = _replay(damaged)
        assert rc == 1, at
        d = lines[-1]["damage"]
        assert d is not None and d["events_recorded"] == total
        assert d["events_lost"] <= 2, d  # a header copy, or the one or two events the bytes hit
        assert lines[-1]["packets"] >= 3 and lines[-1]["delivered"] >= 2, lines[-1]
