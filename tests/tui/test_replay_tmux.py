"""``brtrace replay`` of a damaged recording in a real terminal (tmux): the TUI shows what
was salvaged and says it is damaged; after ``q`` the warning is repeated and the exit status is 1.
No root, no eBPF: a recording replays anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SESSION = f"brt-replay-test-{os.getpid()}"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _wait_for(pred, timeout: float) -> str:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-J", "-t", SESSION)
        if pred(screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"timed out; screen was:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (scripts/setup.sh installs it)")
def test_damaged_replay_in_a_terminal(tmp_path: Path) -> None:
    data = bytearray((ROOT / "samples/flannel-ping.brt").read_bytes())
    mid = len(data) // 2
    for i in range(8):
        data[mid + i] ^= 0xFF
    rec = tmp_path / "brt-damaged.brt"
    rec.write_bytes(bytes(data))
    brtrace = str(Path(sys.executable).parent / "brtrace")
    cmd = (f"cd {tmp_path} && env -u COLUMNS -u LINES {brtrace} replay {rec}; "
           "echo brtrace-exit=$?; sleep 60")
    try:
        _tmux("new-session", "-d", "-s", SESSION, "-x", "200", "-y", "45", cmd)
        _tmux("resize-window", "-t", SESSION, "-x", "200", "-y", "45")
        screen = _wait_for(lambda s: "DAMAGED RECORDING" in s and s.count("delivered") >= 2, 60)
        assert "lost 46 of 141 recorded" in screen
        _tmux("send-keys", "-t", SESSION, "q")
        screen = _wait_for(lambda s: "brtrace-exit=" in s, 30)
        assert "brtrace-exit=1" in screen
        assert "brtrace: warning:" in screen and "corrupted record at byte" in screen
    finally:
        _tmux("kill-session", "-t", SESSION)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (scripts/setup.sh installs it)")
def test_replay_step_in_an_80x24_terminal(tmp_path: Path) -> None:
    """``replay --step`` at 80×24: it starts at the first hop; each → shows the next one, its
    action in the journey and ▶ on the compact map; the status line says step mode."""
    session = f"{SESSION}-step"
    brtrace = str(Path(sys.executable).parent / "brtrace")
    shutil.copy(ROOT / "samples/flannel-ping.brt", tmp_path / "f.brt")  # a short name, as typed
    cmd = (f"cd {tmp_path} && env -u COLUMNS -u LINES {brtrace} replay f.brt --step; "
           "echo brtrace-exit=$?; sleep 60")

    def pane() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", session], capture_output=True,
                              text=True, check=False).stdout

    def wait(pred) -> str:  # type: ignore[no-untyped-def]
        end, screen = time.monotonic() + 60, ""
        while time.monotonic() < end:
            screen = pane()
            if pred(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"timed out; screen was:\n{screen}")

    try:
        _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd)
        _tmux("resize-window", "-t", session, "-x", "80", "-y", "24")
        screen = wait(lambda s: "request → hop 1/15" in s and "ended" in s)
        assert "step → next hop" in screen and "▶eth0" in screen
        for _ in range(6):
            _tmux("send-keys", "-t", session, "Right")
        screen = wait(lambda s: "request → hop 7/15" in s)
        assert "▶eth0" in screen and "Δ sent encapsula" in screen
        assert "Δ encapsulated: + outer IP 192.168.50.11 → 192.168.50.12" in screen
        _tmux("send-keys", "-t", session, "q")
        assert "brtrace-exit=0" in wait(lambda s: "brtrace-exit=" in s)
    finally:
        _tmux("kill-session", "-t", session)
