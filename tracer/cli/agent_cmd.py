"""``brtrace agent``: serve this node's events, topology, probes and clock over gRPC."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from typing import Any

from tracer.errors import BrtraceError, NeedRoot


def register(sub: Any) -> None:
    p = sub.add_parser("agent", help="serve this node to brtrace clients (--agents) over gRPC",
                       description="One agent per node. Clients merge every node's events into "
                                   "one journey per packet.")
    p.add_argument("--listen", default="127.0.0.1:7946", metavar="ADDR:PORT",
                   help="address to serve on (default 127.0.0.1:7946); any other than loopback "
                        "needs TLS and client authentication")
    p.add_argument("--node", default=socket.gethostname(), help="this node's name (default: host name)")
    p.add_argument("--netns", default="", metavar="NS[,NS…]",
                   help="serve only these namespaces (filtered in the kernel): two agents on one "
                        "kernel can play two nodes")
    add_security(p, server=True)
    p.set_defaults(func=run)


def add_security(p: argparse.ArgumentParser, server: bool) -> None:
    """The TLS/token options, the same names on both ends."""
    who = "clients" if server else "the agents"
    p.add_argument("--tls-cert", default="", metavar="FILE", help="TLS certificate (PEM)")
    p.add_argument("--tls-key", default="", metavar="FILE", help="its private key (PEM)")
    p.add_argument("--tls-ca", default="", metavar="FILE",
                   help=f"CA that signed {who}' certificates (PEM)")
    p.add_argument("--token-file", default="", metavar="FILE",
                   help="bearer token " + ("clients must send" if server else "to send"))


def run(args: argparse.Namespace) -> int:
    from tracer.agent.local import local_kernel
    from tracer.agent.security import Security, check_listen
    from tracer.agent.server import AgentConfig, serve

    sec = Security(args.tls_cert, args.tls_key, args.tls_ca, args.token_file)
    check_listen(args.listen, sec)
    if os.geteuid() != 0:
        raise NeedRoot("brtrace agent")
    netns = tuple(n for n in args.netns.split(",") if n)
    cfg = AgentConfig(node=args.node, netns=netns, listen=args.listen, security=sec)
    kern = local_kernel(cfg)
    for w in kern.warnings:
        print(f"brtrace agent {cfg.node}: warning: {w}", file=sys.stderr, flush=True)

    def ready(port: int) -> None:
        host = args.listen.rpartition(":")[0]
        print(f"brtrace agent {cfg.node}: serving {host}:{port}"
              + (f" ({', '.join(netns)})" if netns else ""), file=sys.stderr, flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(cfg, kern, ready)
    except KeyboardInterrupt:
        return 0
    except BrtraceError:
        raise
    return 0
