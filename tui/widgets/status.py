"""The status bar: source, lost events, damage, the selected packet's diagnosis, recording, rate, hooks.

Lost events are always shown, red when non-zero, and come right after the
source so a narrow terminal cannot cut them off: a trace with holes must never
look complete. A damaged recording says so right after them, and the selected
packet's drop diagnosis (cause and fix) follows, ahead of the counters.
Values arrive from the app; nothing here reads a clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from tracer.model import HookMode, HookStatus
from tracer.render.inert import inert


@dataclass(slots=True)
class StatusFacts:
    source: str = "starting"
    hooks: tuple[HookStatus, ...] = ()
    packets: int = 0  # rows in the book (an echo request and its reply are one)
    events: int = 0
    rate: float | None = None  # events/s, None until measured
    lost: int = 0
    evicted: int = 0  # packets the correlator's bounds forgot before completion
    recording: str = ""  # file being written, "" = off
    paused: bool = False
    follow: bool = True
    done: bool = False
    error: str = ""
    damage: str = ""  # what a damaged recording lost, "" = intact
    diagnosis: str = ""  # the selected packet's cause and fix, "" = none
    teach: str = ""  # teaching mode's language, "" = off (said here, not in a toast over this line)
    step: str = ""  # step playback: "" = off, else "→ next hop", "every 500 ms", "stopped", "at the end"


def status_text(f: StatusFacts) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(inert(f.source), style="bold")
    if f.paused and not f.done:  # an ended replay has nothing left to pause
        t.append("  PAUSED", style="bold black on yellow")
    if f.done:
        t.append("  ended", style="bold")
    t.append("  ")
    t.append(f"lost {f.lost:,}", style="bold white on red" if f.lost else "green")
    if f.evicted:
        t.append(f"  {f.evicted:,} packets not shown (evicted before completion)", style="bold white on red")
    if f.damage:
        t.append("  DAMAGED RECORDING: " + inert(f.damage), style="bold white on red")
    if f.step:  # after what must never be cut off (lost, damage), before the rest
        t.append(f"  step {f.step}", style="bold cyan")
    if f.teach:
        t.append(f"  explain ({f.teach})", style="bold green")
    if f.diagnosis:
        t.append("  ✗ " + inert(f.diagnosis), style="bold red")
    t.append("  rec ")
    t.append(inert(f.recording) if f.recording else "off", style="bold red" if f.recording else "dim")
    rate = "- ev/s" if f.rate is None else f"{f.rate:,.0f} ev/s"
    t.append(f"  {f.packets:,} pkts  {f.events:,} ev  {rate}  hooks ")
    t.append_text(hooks_text(f.hooks))
    if f.follow:
        t.append("  follow", style="cyan")
    if f.error:
        t.append("  " + inert(f.error), style="bold red")
    return t


def hooks_text(hooks: tuple[HookStatus, ...]) -> Text:
    """``7 raw_tracepoint, 9 off``: how many hooks are live in each mode."""
    if not hooks:
        return Text("?", style="dim")
    t = Text()
    counts = Counter(h.mode for h in hooks)
    for i, (mode, n) in enumerate(sorted(counts.items(), key=lambda kv: (kv[0] == HookMode.OFF, kv[0]))):
        if i:
            t.append(", ")
        t.append(f"{n} {mode}", style="dim" if mode == HookMode.OFF else "green")
    return t


class StatusBar(Static):
    text = Text()

    def show(self, facts: StatusFacts) -> None:
        self.text = status_text(facts)
        self.update(self.text)
