"""A pcap-filter expression against the fixed filter: probe time per packet, neither matching.

The expression (``udp port 9``, libpcap's cBPF translated into brt_filter.h)
and the fixed ``--proto udp --port 9`` both reject every packet of the UDP
flood; bpf_stats times each program run. Issue 23's target: the expression
within 10 % of the fixed filter. Each round runs both, in rotated order.
"""

from __future__ import annotations

from functools import partial

from bench import progstats
from bench.context import Bench
from bench.figure import Figure, Target, rotated, spread
from bench.procs import Tracer, flood

WITHIN = Target.at_most(110, "%")


def step(b: Bench) -> None:
    fig = b.add(Figure("cost_pcap_nomatch", "probe time per packet, pcap expression / fixed filter, "
                       "not matching (bpf_stats)", WITHIN, "%"))
    if b.skip_kernel(fig):
        return
    dur = 0.3 if b.smoke else 1.0
    variants = [("fixed", partial(Tracer, b.after, "--filter", "nomatch")),
                ("pcap", partial(Tracer, b.after, "--filter", "pcap-nomatch"))]
    per_pkt: dict[str, list[float]] = {"fixed": [], "pcap": []}
    with progstats.stats_enabled():
        flood(0.2)
        for r in range(b.rounds):
            for name, start in rotated(variants, r):
                tr = start()
                try:
                    res = flood(dur)
                    progs = progstats.programs()
                finally:
                    tr.stop()
                ns = sum(p.run_time_ns for p in progs)
                per_pkt[name].append(ns / res["sent"] if res["sent"] else 0.0)
                b.log(f"pcap cost {name}: {per_pkt[name][-1]:,.0f} ns per packet")
    ratios = [100.0 * p / f for p, f in zip(per_pkt["pcap"], per_pkt["fixed"], strict=True) if f]
    fig.results["after"] = {**spread(ratios), "fixed_ns": spread(per_pkt["fixed"]),
                            "pcap_ns": spread(per_pkt["pcap"])}
    if ratios:
        fig.judge(fig.after_median())
        pcap, fixed = spread(per_pkt["pcap"])["median"], spread(per_pkt["fixed"])["median"]
        fig.note = (f"expression {pcap:,.0f} ns vs fixed filter {fixed:,.0f} ns per packet "
                    f"(medians of {len(ratios)} rounds)")
