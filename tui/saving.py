"""``s``: write everything seen so far to a new recording, in a worker (never blocks the UI)."""

from __future__ import annotations

import time
from pathlib import Path

from textual import work

from tracer.render.inert import inert
from tui.state import AppState


class Saving(AppState):
    """Saves to ``save_dir/brtrace-STAMP[-N].brt``, never over an existing file."""

    def action_save(self) -> None:
        if self.info is None:
            self.notify("nothing to save yet: the source is not open", severity="warning")
            return
        if not self.seen.events:
            self.notify("nothing to save yet: no events seen", severity="warning")
            return
        path = self._save_path()
        self._write_recording(path, self.seen.mark(), self.facts.lost)

    def _save_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        n = 0
        while True:
            path = self.save_dir / f"brtrace-{stamp}{f'-{n}' if n else ''}.brt"
            if not path.exists() and str(path) not in self.saved:
                return path
            n += 1

    @work(thread=True, group="save", exit_on_error=False)
    def _write_recording(self, path: Path, mark: tuple[int, int, int], lost: int) -> None:
        """Copies the spilled recording up to ``mark`` (taken on the UI thread)."""
        self.saved.append(str(path))
        try:
            events = self.seen.save(path, lost, mark)
        except Exception as exc:  # noqa: BLE001 - a failed save is a notification, not a crash
            self.call_from_thread(self.notify, inert(str(exc)), title="save failed",
                                  severity="error", markup=False)
            return
        self.call_from_thread(self.notify, inert(f"saved {events} events to {path.resolve()}"),
                              title="recording saved", markup=False)
