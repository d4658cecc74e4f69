"""``brtrace serve [FILE | replay FILE … | ping DEST … | trace …]``: the TUI in a browser.

textual-serve runs the served command once per browser tab, under its own
web driver: stdout is then a pipe, not a terminal, so the command is started
with ``--tui`` (without it, replay would fall back to text and the page would
say "Application failed to start"). The server binds 127.0.0.1 unless told
otherwise. Live tracing (``ping``/``trace``) runs as root and shows every
matching packet's headers, so serving it beyond loopback needs
``--expose-live`` and says what it exposes. Everything that can be checked
before serving is (the recording reads, root for live, the port is free), so
a mistake is one line here, not a broken page.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys

from tracer.errors import BrtraceError, NeedRoot
from tracer.hostaddr import is_loopback, is_unspecified

SERVABLE = ("replay", "ping", "trace")
LIVE = ("ping", "trace")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="serve the TUI (replay, ping or trace) in a web browser")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 = any free)")
    p.add_argument("--public-url", metavar="URL",
                   help="URL browsers use to reach the server (default http://HOST:PORT)")
    p.add_argument("--expose-live", action="store_true",
                   help="allow serving live tracing (ping/trace) on a non-loopback address")
    p.add_argument("what", nargs=argparse.REMAINDER, metavar="FILE | replay FILE | ping DEST | trace …",
                   help="a recording, or the replay/ping/trace command line to serve (serve's own "
                        "options go before it: what follows belongs to the served command)")
    p.set_defaults(func=run)


def served_args(what: list[str]) -> list[str]:
    """The brtrace arguments the server runs per tab: ``FILE`` means ``replay FILE``; ``--tui`` added."""
    if what and what[0] == "--":
        what = what[1:]
    if not what:
        raise BrtraceError("serve needs something to serve: a recording (brtrace serve FILE) "
                           "or a command (replay FILE, ping DEST, trace …)", 2)
    if what[0] not in SERVABLE:
        from tracer.cli.main import COMMANDS

        if what[0].startswith("-") or what[0] in COMMANDS:
            raise BrtraceError(f"serve runs replay, ping or trace in the browser, not {what[0]!r}", 2)
        what = ["replay", *what]  # a recording
    return [what[0], "--tui", *what[1:]]


def _check(args: list[str]) -> None:
    """Fail here, in one line, for what would otherwise fail in the browser tab."""
    from tracer.cli.main import build_parser

    ns = build_parser().parse_args(args)  # argparse reports bad usage itself (exit 2)
    if args[0] == "replay":
        from tracer.record import open_recording

        with open_recording(ns.file):  # missing, unreadable or not a recording: one line
            pass
    elif os.geteuid() != 0:
        raise NeedRoot(f"brtrace serve {args[0]}")


def _free_port(host: str, port: int) -> int:
    """``port`` if nothing listens there (any free one for 0); else a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will bind
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == 98:
                raise BrtraceError(f"port {port} on {host} is in use; pick another with --port") from None
            raise BrtraceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        return int(s.getsockname()[1])


def _exposure(args: argparse.Namespace, served: list[str]) -> None:
    if is_loopback(args.host):
        return
    live = served[0] in LIVE
    if live and not args.expose_live:
        raise BrtraceError(f"serving live tracing on {args.host} lets anyone who reaches it start "
                           "a tracer as root and read this machine's packet headers; add "
                           "--expose-live to do that, or keep the default --host 127.0.0.1", 2)
    what = ("live tracing as root: every browser tab starts `brtrace "
            f"{shlex.join(served)}` and sees the headers of matching packets on this machine"
            if live else f"the recording: every browser tab replays `brtrace {shlex.join(served)}`")
    print(f"brtrace: warning: serving beyond loopback on {args.host}: {what}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    served = served_args(list(args.what))
    _check(served)
    _exposure(args, served)
    port = _free_port(args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = args.public_url or f"http://{host}:{port}"
    if not args.public_url and is_unspecified(args.host):
        print(f"brtrace: note: the page tells browsers to connect back to {url}; from another "
              "machine pass --public-url http://NAME:PORT with a name it can reach", file=sys.stderr)
    # exec: the shell textual-serve starts becomes the app, so no shell is left in between
    command = "exec " + shlex.join([sys.executable, "-m", "tracer.cli.main", *served])
    from tracer.cli.serve_server import TabServer

    print(f"brtrace: serving `brtrace {shlex.join(served)}` at {url} (Ctrl+C stops)", file=sys.stderr)
    server = TabServer(command, host=args.host, port=port, title=f"brtrace {shlex.join(served)}",
                    public_url=url)
    try:
        server.serve()
    except OSError as exc:
        raise BrtraceError(f"cannot serve on {args.host}:{port}: {exc.strerror or exc}") from None
    return 0
