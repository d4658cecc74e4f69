"""The ``--agents`` options of the client commands, and ``ping --agents`` output.

No root needed on the client: the agents trace and send the probes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tracer.agent.security import Security
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status
from tracer.errors import BrtraceError
from tracer.remote.client import AgentClient
from tracer.remote.session import Session, connect


def open_session(args: argparse.Namespace) -> Session:
    sec = Security(args.tls_cert, args.tls_key, args.tls_ca, args.token_file)
    addrs = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not addrs:
        raise BrtraceError("--agents needs at least one HOST:PORT", 2)
    return connect(addrs, lambda a: AgentClient(a, sec))


def probe_obj(p: Packet, sess: Session, topo_json: Any) -> dict[str, object]:
    from tracer.render.text import probe_json

    obj: dict[str, object] = json.loads(probe_json(p, topo_json))
    obj["nodes"] = sess.node_state()
    return obj


def ping(args: argparse.Namespace) -> int:
    """``brtrace ping DEST --agents …``: exit 0 only when every probe was followed end to end."""
    from tracer.ping import parse_dest
    from tracer.remote.ping import run_remote_ping
    from tracer.render.text import probe_text, summary_text

    dest = parse_dest(args.dest)
    if not 1 <= args.count <= 10000 or not 0.01 <= args.interval <= 60:
        raise BrtraceError("-c must be 1..10000 and -i 0.01..60 seconds", 2)
    sess = open_session(args)
    try:
        run = run_remote_ping(sess, dest, args.src, args.count, args.interval, args.size,
                              args.snaplen, args.all_hooks)
    finally:
        sess.close()
    topo = sess.cluster.topology
    for r in run.results:
        if args.json:
            print(json.dumps(probe_obj(r, sess, topo), ensure_ascii=False))
        else:
            print("\n".join(probe_text(r, f"{run.node}:{run.src.label} ({run.src_addr})", dest, topo)))
            print()
    if not args.json:
        lost = sum(sess.lost.values())
        partial = sum(1 for r in run.results if r.status == Status.PARTIAL)
        print(summary_text(run.results, lost, run.events)
              + (f"; {partial} partial (not followed end to end)" if partial else ""))
        for n, st in sess.node_state().items():
            off, unc = st.get("offset_ns", "?"), st.get("uncertainty_ns", "?")
            print(f"node {n}: clock offset {off} ns ± {unc} ns, "
                  f"{st.get('lost', 0)} lost" + (f", agent {st['agent']}" if "agent" in st else ""))
    ok = bool(run.results) and all(r.status == Status.DELIVERED and r.request and r.reply
                                   for r in run.results)
    return 0 if ok and not sess.dead and not sess.unreachable else 1


def topo(args: argparse.Namespace) -> int:
    """``brtrace topo --agents …``: the merged topology; --json as nodes → namespaces."""
    from tracer.multinode.nodes import render_cluster

    sess = open_session(args)
    sess.close()
    if args.json:
        print(json.dumps(sess.cluster.to_dict(), indent=2, ensure_ascii=True))
    else:
        sys.stdout.write(render_cluster(sess.cluster, args.local))
    return 1 if sess.unreachable else 0
