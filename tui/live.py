"""``brtrace ping`` in the TUI: run ``tracer.ping.run_ping`` inside the app's worker.

run_ping already does the careful part — attach before the first probe,
detach on every way out — so the TUI reuses it unchanged: its source is
wrapped so that each poll hands the batch to the app, and so that quitting
the app turns into the KeyboardInterrupt run_ping already handles (stop the
pinger, drain, close the source). The probes are therefore detached by the
time the worker returns, which ``BrtraceApp.stop_source`` waits for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tracer.model import Event
from tracer.source import EventSource, SourceInfo, SourceWrapper
from tracer.topology.model import Netns, Topology
from tui.pump import Emit, Runner


class StoppableSource(SourceWrapper):
    """Passes a source through, reporting batches; raises KeyboardInterrupt once when stopped."""

    def __init__(self, source: EventSource, emit: Emit, stopped: Callable[[], bool]) -> None:
        super().__init__(source)
        self._emit, self._stopped = emit, stopped
        self._interrupted = False

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        if self._stopped() and not self._interrupted:
            self._interrupted = True
            raise KeyboardInterrupt
        batch = self.source.poll(timeout_ms)
        self._emit(batch, self.source.stats())
        return batch


def ping_runner(args: argparse.Namespace, topo: Topology, dest: str, src: Netns,
                opened: Callable[[SourceInfo, str], None]) -> Runner:
    """A runner for BrtraceApp that sends the probes and traces them live."""
    def run(emit: Emit, stopped: Callable[[], bool]) -> None:
        from probes.loader import LiveSource
        from tracer.ping import run_ping
        from tracer.record.writer import LiveRecorder

        def open_source(flt):  # type: ignore[no-untyped-def]
            live: EventSource = LiveSource(flt, topo, snaplen=args.snaplen, command=" ".join(sys.argv),
                                           all_hooks=getattr(args, "all_hooks", False))
            if args.record:
                live = LiveRecorder(live, args.record)
            opened(live.info, args.record or "")
            return StoppableSource(live, emit, stopped)

        extra = {"size": args.size} if hasattr(args, "size") else {}
        run_ping(topo, dest, src, args.count, args.interval, open_source, **extra)
    return run


def run_ping_tui(args: argparse.Namespace, topo: Topology, dest: str, src: Netns) -> int:
    """Open the TUI on a live ping; returns once the probes are detached."""
    from tui.app import BrtraceApp

    app = BrtraceApp(topology=topo, label=f"live ping {dest} from {src.label}",
                     recording=args.record or "")
    app.runner = ping_runner(args, topo, dest, src, app.source_opened)
    try:
        app.run()
    finally:
        if not app.stop_source(timeout=15.0):
            print("brtrace: warning: the tracer did not stop within 15 s", file=sys.stderr)
    return 0
