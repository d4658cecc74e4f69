"""Run a runtime's own command-line client briefly (``ctr``, ``crictl``): the I/O of two providers.

containerd's and CRI's APIs are gRPC; their official clients speak it, so
brtrace runs them instead of carrying gRPC stubs. Every call is bounded by
the caller's deadline; a failure is an ``OSError`` with the client's message.
"""

from __future__ import annotations

import shutil
import subprocess
import time


class Deadline:
    """What is left of one provider's time budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        rest = self.end - time.monotonic()
        if rest <= 0:
            raise TimeoutError("out of time")
        return rest


def which(tool: str) -> str | None:
    return shutil.which(tool)


def run(argv: list[str], deadline: Deadline) -> str:
    """``argv``'s stdout; OSError (with its stderr's first line) when it fails or is too slow."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=deadline.left(),
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{argv[0]} did not answer in time") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[0]
        raise OSError(f"{' '.join(argv[:1] + argv[3:5])}: {msg}")
    return proc.stdout


__all__ = ["Deadline", "run", "which"]
