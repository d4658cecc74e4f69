"""Soak of the live TUI (issue 18, item 2): 60 s of ``ping -i 0.002`` in a real terminal.

The TUI kept every packet's hops and events and reached ~975 MB after 60 s of
this load; with light rows (``tui/rows.py``) 196–205 MB and 10–16 % growth
over the last 30 s, because the UI thread fell behind the flood (a redraw of
journey, map and scapy-decoded detail per message) and queued messages piled
up. Then the view was made to redraw at most 5 times a second, the worker to
gather batches while a message is unhandled (``tui/pump.py``), and route and
address text to be parsed once: 181–185 MB at 60 s, but still 6.2–6.5 %
growth, a steady ~0.35 MB/s. Three causes, each measured by replaying a
recorded flood into the headless TUI: a light row still cost ~630 B as a
``Packet`` object (now a row of typed columns, ~44 B:
``tracer/correlate/packet.py``); what the process freed stayed resident in
glibc's arenas (now trimmed once a second: ``tracer/heap.py``); and while the
view was behind, its backlog's slices kept the worker's batches out of the
UI's queue, so they piled up in the worker's memory (now the next slice is
posted after them, ``Ingest._drain_later``). Measured here (2026-12-03,
25.6k–29.9k pings, four runs, three at this limit): 164–169 MB at 30 s, at most 169–172 MB after,
growth 1.8–3.0 %. Both targets are met and asserted: ≤ 200 MB, and ≤ 5 % over
the last 30 s. Its status line must still count every packet
ping sent (an echo request and its reply are one row), and quitting leaves no
brtrace program attached. Bounded: ping stops after 60 s (-w), the TUI is
quit with ``q`` (the tmux session is killed whatever happens).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kernel.test_ping import no_brtrace_programs
from tests.support.proc import rss_kb
from tracer.lab import LabInfo

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
SESSION = f"brt-tui-soak-{os.getpid()}"
SECONDS = 60
RSS_LIMIT_KB = 200 * 1024  # issue 18's target
GROWTH_LIMIT = 1.05  # issue 18: ≤ 5 % over the last 30 s
STATUS = re.compile(r"([\d,]+) pkts")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _screen() -> str:
    return _tmux("capture-pane", "-p", "-t", SESSION)


def _wait_for(pred: Callable[[str], bool], timeout: float) -> str:
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _screen()
        if pred(screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"timed out; screen was:\n{screen}")


def _tui_pid() -> int:
    """The brtrace process: the child of the pane's shell."""
    shell = _tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip()
    with open(f"/proc/{shell}/task/{shell}/children") as f:
        kids = f.read().split()
    assert kids, "brtrace did not start"
    return int(kids[0])


def _count(screen: str, pattern: re.Pattern[str]) -> int:
    m = pattern.search(screen)
    return int(m.group(1).replace(",", "")) if m else -1


def _flood(pid: int) -> tuple[str, list[tuple[float, int]]]:
    """Run the bounded ping; (its output, RSS samples every 5 s as (seconds, kB))."""
    ping = subprocess.Popen(["ip", "netns", "exec", "brt-pod-a", "ping", "-q", "-i", "0.002",
                             "-w", str(SECONDS), "10.244.1.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, samples = time.monotonic(), []
    try:
        while ping.poll() is None and time.monotonic() - start < SECONDS + 15:
            samples.append((time.monotonic() - start, rss_kb(pid)))
            behind = re.search(r"view behind: ([\d,]+) ev", _screen())
            print(f"{samples[-1][0]:.0f} s: {samples[-1][1] // 1024} MB"
                  + (f", view behind by {behind.group(1)} events" if behind else ""), file=sys.stderr)
            time.sleep(5.0)
        out, _ = ping.communicate(timeout=15)
    finally:
        if ping.poll() is None:
            ping.kill()
            ping.wait()
    samples.append((time.monotonic() - start, rss_kb(pid)))
    return out, samples


def test_live_tui_sixty_seconds_of_ping_flood(flannel_lab: LabInfo) -> None:
    if not shutil.which("tmux") or not shutil.which("bpftool"):
        pytest.skip("needs tmux and bpftool")
    cmd = (f"cd {ROOT} && env -u COLUMNS -u LINES {BRTRACE} trace --host 10.244.1.3 --proto icmp; "
           "echo brtrace-exit=$?; sleep 60")
    try:
        _tmux("new-session", "-d", "-s", SESSION, "-x", "200", "-y", "40", cmd)
        _tmux("resize-window", "-t", SESSION, "-x", "200", "-y", "40")
        _wait_for(lambda s: "raw_tracepoint" in s, 60)  # the hooks are live
        pid = _tui_pid()
        out, samples = _flood(pid)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        sent, received = int(m.group(1)), int(m.group(2))
        assert sent >= 10_000 and received >= sent * 0.99, out  # the load really ran (~18.7k in 60 s here)
        # every echo is a row once the last replies are in (a few polls after ping ends)
        try:
            screen = _wait_for(lambda s: _count(s, STATUS) >= sent, 20)
        except AssertionError as e:
            raise AssertionError(f"ping said: {out.strip()}\n{e}") from None
        evicted = _count(screen, re.compile(r"([\d,]+) packets not shown"))
        assert _count(screen, STATUS) + max(evicted, 0) == sent, screen
        assert evicted == -1 and "lost 0" in screen, screen  # nothing evicted, nothing lost
        print(f"TUI RSS samples (s, MB): {[(round(t), kb // 1024) for t, kb in samples]}; "
              f"ping sent {sent}; status: {[ln.strip() for ln in screen.splitlines() if ' pkts ' in ln]}",
              file=sys.stderr)
        assert max(kb for _, kb in samples) <= RSS_LIMIT_KB, samples
        at_30 = [kb for t, kb in samples if t <= SECONDS - 30][-1]
        assert max(kb for t, kb in samples if t >= SECONDS - 30) <= at_30 * GROWTH_LIMIT, samples
        _tmux("send-keys", "-t", SESSION, "q")
        screen = _wait_for(lambda s: "brtrace-exit=" in s, 30)
        assert "brtrace-exit=0" in screen and "Traceback" not in screen, screen
        assert no_brtrace_programs()
    finally:
        _tmux("kill-session", "-t", SESSION)
