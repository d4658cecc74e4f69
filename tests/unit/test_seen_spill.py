"""The TUI's seen events live in an unlinked temporary recording (issue 18, item 2):
memory stays flat however long the session, saving still gives every event."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.synth import flannel_batch
from tracer.model import SourceStats
from tracer.record.reader import open_recording
from tracer.record.spill import SeenSpill
from tracer.schema.decode import Decoder
from tracer.source import SourceInfo
from tracer.topology.model import Topology


def test_saved_recording_has_every_event_and_the_loss(tmp_path: Path) -> None:
    spill, dec = SeenSpill(str(tmp_path)), Decoder()
    info = SourceInfo(live=True, topology=Topology(), filter="host 10.244.1.3")
    for k in range(5):
        spill.add(dec.decode(flannel_batch(1800, first_packet=k * 100)), info)
    assert os.listdir(tmp_path) == []  # unlinked at once: nothing left behind, even on SIGKILL
    mark = spill.mark()
    spill.add(dec.decode(flannel_batch(1800, first_packet=900)), info)  # after the mark: not saved
    assert spill.save(tmp_path / "a.brt", lost=7, mark=mark) == 9000
    rec = open_recording(tmp_path / "a.brt")
    assert rec.damage is None and rec.info.filter == "host 10.244.1.3"
    assert sum(len(b) for b in rec.batches()) == 9000
    assert rec.end_stats == SourceStats(events=9000, lost=7, batches=mark[2])
    assert spill.save(tmp_path / "b.brt", lost=0) == 10800
    spill.close()
    assert sorted(os.listdir(tmp_path)) == ["a.brt", "b.brt"]
