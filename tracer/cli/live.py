"""The one place the CLI builds a live source: probes attached, optionally recorded.

``ping``, ``trace``, ``record`` and ``drops`` all trace the running kernel;
they differ in the filter and in a few options, which reach this module as a
:class:`LiveOptions` value (never as argparse attributes read by name), so a
new option is added here once. The TUI never builds a live source itself: the
CLI hands it either the source or a runner that opens one (``ping``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept out of the import of every command (startup time)
    from tracer.filter import TraceFilter
    from tracer.source import EventSource
    from tracer.topology.model import Topology


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How to attach: header bytes kept, every hook or the default set, a recording, the command."""

    snaplen: int | None = None  # None: the probes' default
    all_hooks: bool = False
    record: str = ""  # also write every polled batch to this file
    command: str = ""  # what the recording says was traced


def add_live_args(p: argparse.ArgumentParser) -> None:
    """The options every live command shares, read back by :func:`options_from`."""
    p.add_argument("--snaplen", type=int, default=128, help="header bytes kept per hop")
    p.add_argument("--all-hooks", action="store_true",
                   help="also attach net_dev_start_xmit and netif_rx (qdisc delay, backlog drops; "
                        "costs every packet more)")
    from tracer.remote.options import add_agent_args  # --agents: across nodes (tracer/remote)

    add_agent_args(p)


def options_from(args: argparse.Namespace, command: str, record: str = "") -> LiveOptions:
    """LiveOptions from a parser that :func:`add_live_args` set up."""
    return LiveOptions(snaplen=args.snaplen, all_hooks=args.all_hooks, record=record, command=command)


def open_live_source(flt: TraceFilter, topo: Topology, opts: LiveOptions) -> EventSource:
    """Compile and attach the probes for ``flt`` (returns once every hook is live).

    With ``opts.record`` every polled batch is also written, and closing the
    source writes the lost count into the recording's trailer.
    """
    from probes.loader import LiveSource

    source: EventSource
    if opts.snaplen is None:
        source = LiveSource(flt, topo, command=opts.command, all_hooks=opts.all_hooks)
    else:
        source = LiveSource(flt, topo, snaplen=opts.snaplen, command=opts.command,
                            all_hooks=opts.all_hooks)
    if opts.record:
        from tracer.record.writer import LiveRecorder

        source = LiveRecorder(source, opts.record)
    return source


def hooks_line(source: EventSource) -> str:
    """``brtrace: 5 hooks live (…)``: what the text outputs print on stderr before tracing."""
    live = [h.hook.label for h in source.info.hooks if h.live]
    return f"brtrace: {len(live)} hooks live ({', '.join(live)})"
