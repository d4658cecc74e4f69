"""``replay --plain --step``: print a recording's hops one at a time, on a key press or a timer.

The chunks (a hop's row and the headers that changed at it) come from
``tracer.render.steps``; this module only decides when the next one is
printed. On a terminal a single key press advances (``q`` stops); from a
pipe each line read does, and the end of input prints the rest at once, so
a script is never left waiting on a reader that will not come.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from tracer.correlate.pairing import Packet
from tracer.render.steps import step_chunks
from tracer.render.text import named
from tracer.topology.model import Topology

Wait = Callable[[], bool]  # False: stop stepping (the user pressed q)

QUIT_KEYS = ("q", "Q", "\x03", "\x04")  # q, Ctrl-C and Ctrl-D in cbreak mode


def play_steps(packets: Sequence[Packet], step_ms: int | None, topo: Topology | None = None,
               out: TextIO | None = None, keys: TextIO | None = None) -> None:
    """Every packet's chunks in order, waiting between them; q ends early (the summary still prints)."""
    out = out or sys.stdout
    wait = _timer(step_ms) if step_ms is not None else _key_waiter(keys or sys.stdin)
    for n, p in enumerate(packets):
        if n:
            print(file=out)
        for chunk in step_chunks(p, named(p.src, topo), named(p.dst, topo), topo):  # as replay names them
            print("\n".join(chunk), file=out, flush=True)
            if not wait():
                print(file=out)
                return
    print(file=out)


def _timer(step_ms: int) -> Wait:
    def wait() -> bool:
        time.sleep(step_ms / 1000)
        return True
    return wait


def _key_waiter(keys: TextIO) -> Wait:
    """One key on a terminal (cbreak, no echo), else one line; at end of input, stop waiting."""
    ended = False

    def wait() -> bool:
        nonlocal ended
        if ended:
            return True
        key = _read_key(keys) if keys.isatty() else keys.readline()
        if key == "":
            ended = True
            return True
        return key.strip() not in QUIT_KEYS

    return wait


def _read_key(keys: TextIO) -> str:
    """A single key press without echo; the terminal is put back as it was, also on Ctrl-C."""
    import termios
    import tty

    fd = keys.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        return keys.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
