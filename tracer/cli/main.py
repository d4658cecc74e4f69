"""``brtrace`` entry point: dispatch to sub-command modules, turn errors into one line.

Each sub-command lives in its own module in this package (``NAME_cmd.py``)
and exposes ``register(subparsers)``, which adds its parser and sets
``func``. The modules import their heavy dependencies (bcc, pyroute2,
textual, numpy) inside ``run``, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tracer import interrupt
from tracer.errors import BrtraceError
from tracer.remote.options import resolve_k8s

COMMANDS = ("ping", "trace", "record", "replay", "export", "serve", "drops", "topo", "lab", "doctor",
            "agent")


def version() -> str:
    """The installed distribution's version (the image checks it runs: tests/kernel/test_image.py)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return f"brtrace {dist_version('brtrace')}"
    except PackageNotFoundError:
        return "brtrace (not installed: run from a source tree)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brtrace",
        description="Trace packets hop by hop through veths, bridges, routes and VXLAN.",
    )
    parser.add_argument("--docker-sock", metavar="PATH",
                        help="Docker's API socket for container names (default $BRTRACE_DOCKER_SOCK "
                             "or /var/run/docker.sock)")
    parser.add_argument("--version", action="version", version=version())
    # not required here: argparse would then name the missing COMMAND before an unknown
    # option ("brtrace --bogus" must say "unrecognized arguments: --bogus"); main() asks for it
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tracer.cli.{name}_cmd").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    interrupt.install()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)  # imports: an interrupt may come here too
        if args.command is None:
            parser.error("the following arguments are required: COMMAND")
        if args.docker_sock:  # read by tracer.names.docker wherever names are gathered
            os.environ["BRTRACE_DOCKER_SOCK"] = args.docker_sock
        resolve_k8s(args)  # --k8s: the agents' addresses from the Kubernetes API
        rc = args.func(args)
    except BrtraceError as exc:
        print(f"brtrace: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("brtrace: interrupted", file=sys.stderr)
        return interrupt.exit_code(exc)
    except BrokenPipeError:
        return 141
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
