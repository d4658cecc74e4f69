"""What a damaged recording lost: the one account every view prints.

The reader skips bad records and goes on (``resync.py``); this keeps the
tally — where each damaged span began, why, where reading resumed, how many
bytes were skipped, and how many events survive. When the trailer survived it
says how many events were written, so the loss is given in events, not only
in bytes. Plain text, JSON, the TUI and explain mode all show this same
account, so a salvaged trace never looks whole anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.model import SourceStats


@dataclass(frozen=True, slots=True)
class Span:
    """One damaged stretch: the bad record at ``offset`` up to ``resumed`` (None: to the end)."""

    offset: int
    what: str
    resumed: int | None
    skipped: int  # bytes

    def to_dict(self) -> dict[str, object]:
        return {"at_byte": self.offset, "what": self.what, "resumed_at_byte": self.resumed,
                "bytes_skipped": self.skipped}


@dataclass(slots=True)
class DamageReport:
    """The damaged spans of one read, and how many events were kept."""

    spans: list[Span] = field(default_factory=list)
    kept: int = 0
    header: str = ""  # what became of a damaged header ("restored from its copy", …), "" = intact

    def add(self, offset: int, what: str, resumed: int | None, size: int) -> None:
        end = resumed if resumed is not None else max(size, offset)
        self.spans.append(Span(offset, what, resumed, max(0, end - offset)))

    @property
    def bytes_skipped(self) -> int:
        return sum(s.skipped for s in self.spans)

    def lost(self, end: SourceStats | None) -> int | None:
        """Events lost to damage; None when no surviving trailer says how many were written."""
        if end is None or end.events < self.kept:
            return None
        return end.events - self.kept

    def text(self, end: SourceStats | None = None) -> str:
        """One line: the first damage, how much more, where reading resumed, what was kept."""
        if not self.spans:
            return ""
        first = self.spans[0]
        out = first.what
        if len(self.spans) > 1:
            out += f"; {len(self.spans)} damaged records, {self.bytes_skipped} bytes skipped"
        elif first.resumed is not None:
            out += f"; skipped {first.skipped} bytes, resynchronised at byte {first.resumed}"
        out += f": kept {self.kept} events"
        lost = self.lost(end)
        if lost:
            assert end is not None
            out += f", lost {lost} of {end.events} recorded"
        return out

    def brief(self, end: SourceStats | None = None) -> str:
        """The counts first, for a status line that may be cut at its end."""
        if not self.spans:
            return ""
        lost = self.lost(end)
        out = f"kept {self.kept} events" + (f", lost {lost} of {end.events} recorded"
                                            if lost and end is not None else "")
        n = len(self.spans)
        out += (f"; {n} damaged record{'s' if n > 1 else ''} ({self.bytes_skipped} bytes) "
                f"from byte {self.spans[0].offset}")
        return out + (f"; header: {self.header}" if self.header else "")

    def to_dict(self, end: SourceStats | None = None) -> dict[str, object]:
        """The same account as JSON (see docs/json-schema.md, ``damage``)."""
        return {"summary": self.text(end), "spans": [s.to_dict() for s in self.spans],
                "bytes_skipped": self.bytes_skipped, "events_kept": self.kept,
                "events_lost": self.lost(end),
                "events_recorded": end.events if end is not None else None,
                "header": self.header or None}
