"""Rule at the device layer: a device on the path is down (issue 18, item 7)."""

from __future__ import annotations

import ipaddress

from tracer.diagnose.context import Context, Diagnosis, dst_of, in_netns, said


def rule_link_down(ctx: Context) -> Diagnosis | None:
    """A device on the path is down (issue 18): the kernel removed the routes
    through it, so the drop reads IP_INNOROUTES although the configuration
    has them, or frames had nowhere to go. Candidates in order: the dropping
    device and its bridge, a device whose subnet holds the destination, then
    any other down device of that namespace when the drop is a routing one."""
    ns = ctx.ns
    if ns is None:
        return None
    dst = dst_of(ctx)
    down = [ln for ln in ns.links if ln.kind != "loopback" and ln.state == "down"]
    here = {ctx.link.ifindex, ctx.link.master} if ctx.link is not None else set()
    near = [ln for ln in down if ln.ifindex in here or (dst and any(
        a.family == 4 and ipaddress.ip_address(dst) in ipaddress.ip_network(a.cidr, strict=False)
        for a in ln.addresses))]
    routing = ctx.reason in ("IP_INNOROUTES", "IP_OUTNOROUTES") or ctx.location.startswith("ip_error")
    found = near or (down if routing else [])
    if not found:
        return None
    ln = found[0]
    facts = (said("chk.kfree.in", reason=ctx.reason, location=ctx.location or "?", ns=ns.label),
             said("chk.link-down", dev=ln.name, kind=ln.kind, ns=ns.label))
    return Diagnosis("link-down", said("link-down", kind=ln.kind, dev=ln.name, ns=ns.label, dst=dst),
                     in_netns(ns, f"ip link set dev {ln.name} up"), facts, ctx.hop)
