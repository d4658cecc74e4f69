"""Recordings: write traces as they happen, read them back, replay and export them.

Pure Python on top of msgspec: no bcc, pyroute2 or textual, so recordings load
anywhere without root. See ``format.py`` for the file layout and ``raw.py`` for
the raw kernel batches (record kind ``R``).
"""

from tracer.record.format import MAGIC, SCHEMA_VERSION
from tracer.record.reader import Recording, open_recording
from tracer.record.replay import ReplaySource
from tracer.record.writer import LiveRecorder, RecordWriter

__all__ = ["MAGIC", "SCHEMA_VERSION", "LiveRecorder", "RecordWriter", "Recording",
           "ReplaySource", "open_recording"]
