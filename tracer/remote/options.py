"""The ``--agents`` options of the client commands: no grpc imported until one is given
(every brtrace start would pay for it)."""

from __future__ import annotations

import argparse


def add_agent_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("across nodes")
    g.add_argument("--agents", default="", metavar="HOST:PORT[,…]",
                   help="trace through these brtrace agents (one per node) and merge their events")
    g.add_argument("--tls-ca", default="", metavar="FILE", help="CA of the agents' certificates")
    g.add_argument("--tls-cert", default="", metavar="FILE", help="client certificate for the agents")
    g.add_argument("--tls-key", default="", metavar="FILE", help="its private key")
    g.add_argument("--token-file", default="", metavar="FILE", help="bearer token for the agents")
