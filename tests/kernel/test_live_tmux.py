"""Root only: the TUI runs live on the flannel lab in a real terminal (tmux).

A ping's full path must appear (both probes delivered, the journey reaching
pod-b), and quitting with ``q`` must leave no brtrace program attached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tracer.lab import LabInfo

ROOT = Path(__file__).resolve().parents[2]
SESSION = f"brt-tui-test-{os.getpid()}"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _wait_for(pred: Callable[[str], bool], timeout: float) -> str:
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-t", SESSION)
        if pred(screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"timed out; screen was:\n{screen}")


def _brt_programs() -> list[str]:
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if " name brt_" in line]


@pytest.mark.kernel
def test_live_ping_tui_shows_path_and_detaches_on_quit(flannel_lab: LabInfo) -> None:
    if not shutil.which("tmux") or not shutil.which("bpftool"):
        pytest.skip("needs tmux and bpftool")
    brtrace = str(Path(sys.executable).parent / "brtrace")
    cmd = (f"cd {ROOT} && env -u COLUMNS -u LINES {brtrace} ping 10.244.1.3 --from pod-a -c 2; "
           "echo brtrace-exit=$?; sleep 60")
    try:
        _tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", cmd)
        _tmux("resize-window", "-t", SESSION, "-x", "120", "-y", "40")
        screen = _wait_for(lambda s: s.count("delivered") >= 2 and "  ended" in s, 60)
        assert "pod-b" in screen and "node2" in screen and "flannel.1" in screen
        assert "lost 0" in screen and "raw_tracepoint" in screen
        assert "╞═══" in screen and "underlay" in screen  # the map, not the tree, at 120×40
        _tmux("send-keys", "-t", SESSION, "q")
        screen = _wait_for(lambda s: "brtrace-exit=" in s, 30)
        assert "brtrace-exit=0" in screen
        assert _brt_programs() == []
    finally:
        _tmux("kill-session", "-t", SESSION)
