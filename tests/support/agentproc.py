"""A real ``brtrace agent`` process for tests: start it, see its log, stop it.

One home for what the agents' kernel tests and the capability measurement
(``tests/support/caps.py``) both do: a free loopback port, the agent's
stderr read on a thread (it says "serving" once it listens), and a stop by
SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_agent(argv: list[str]) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    """Start ``argv`` (an agent command line); returns the process, its stderr lines
    as they come, and an event set once it says "serving" or its stderr ends."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "serving" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, ready


def serving(lines: list[str]) -> bool:
    return any("serving" in x for x in lines)


def stop_agent(proc: subprocess.Popen[str], wait_s: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``wait_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
