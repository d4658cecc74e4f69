"""The ``--agents`` options of the client commands: no grpc imported until one is given
(every brtrace start would pay for it)."""

from __future__ import annotations

import argparse

from tracer.remote.k8s import DEFAULT_NAMESPACE, DEFAULT_SELECTOR  # as deploy/agent.yaml names them


def add_agent_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("across nodes")
    g.add_argument("--agents", default="", metavar="HOST:PORT[,…]",
                   help="trace through these brtrace agents (one per node) and merge their events")
    g.add_argument("--tls-ca", default="", metavar="FILE", help="CA of the agents' certificates")
    g.add_argument("--tls-cert", default="", metavar="FILE", help="client certificate for the agents")
    g.add_argument("--tls-key", default="", metavar="FILE", help="its private key")
    g.add_argument("--token-file", default="", metavar="FILE", help="bearer token for the agents")
    g.add_argument("--k8s", action="store_true",
                   help="find the agents through the Kubernetes API (kubeconfig, or in-cluster)")
    g.add_argument("--k8s-namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                   help=f"their namespace ({DEFAULT_NAMESPACE})")
    g.add_argument("--k8s-selector", default=DEFAULT_SELECTOR, metavar="LABELS",
                   help=f"their label selector ({DEFAULT_SELECTOR})")


def resolve_k8s(args: argparse.Namespace) -> None:
    """``--k8s`` becomes ``--agents`` before any command looks at it (one API call)."""
    if getattr(args, "k8s", False):
        from tracer.names.kube import kubeconfig
        from tracer.remote.k8s import resolve

        args.agents = resolve(kubeconfig(), args.k8s_namespace, args.k8s_selector, args.agents)
