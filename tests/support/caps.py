"""Measure the capabilities ``brtrace agent`` really needs, by running it without them.

Why this way: a DaemonSet that says ``privileged: true`` hides what the agent
does to the node. Kubernetes gives a root container exactly the capabilities
its ``securityContext`` adds after ``drop: [ALL]``, as its bounding set; a root
process that execs gets its bounding set as permitted and effective. So an
agent started under ``setpriv --bounding-set=-all,+cap…`` holds what the
manifest's container would. Each trial is a real agent and a real
``brtrace ping --agents`` through it in the flannel lab: it works or it does not.

The measurement (:func:`measure`): the candidates alone must work (that
proves every other capability unneeded); then each candidate is dropped in
turn and kept out if the trace still works (a minimal set, in the order of
``CANDIDATES``); then each capability of that set is dropped alone and the
first line of the failure says why it is needed. ``deploy/capabilities.json``
records the result (the one home of the list; the manifest is checked against
it), written by ``python -m tests.support.caps --write`` as root under the
kernel lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.agentproc import free_port, serving, spawn_agent, stop_agent

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "deploy" / "capabilities.json"
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
# The capabilities an eBPF tracer that enters namespaces could plausibly use.
# The broad one (SYS_ADMIN) comes first: it is dropped first when the narrow
# ones cover what it would be used for.
CANDIDATES = ("sys_admin", "bpf", "perfmon", "net_admin", "net_raw", "sys_resource", "sys_ptrace",
              "dac_override", "dac_read_search", "ipc_lock", "sys_chroot", "fowner", "chown", "kill",
              "setpcap", "setuid", "setgid")
PING = ("10.244.1.3", "--from", "node1:pod-a", "-c", "1", "--json")
AGENT_START_S = 40.0
PING_S = 60.0


@dataclass(frozen=True, slots=True)
class Trial:
    caps: tuple[str, ...]
    ok: bool
    why: str  # the first line that says what failed; empty when it worked


ERROR_WORDS = ("error", "denied", "not permitted", "cannot", "unknown", "failed", "refused")


def _first_error(text: str) -> str:
    """The first line that reads as a failure (an agent also logs what it serves)."""
    for line in text.splitlines():
        if any(w in line.lower() for w in ERROR_WORDS):
            return line.strip()[:300]
    return ""


def setpriv_argv(caps: tuple[str, ...]) -> list[str]:
    """Bounding set = ``caps``: what a root container with those capabilities has."""
    bset = ",".join(["-all", *(f"+{c}" for c in caps)])
    return ["setpriv", f"--bounding-set={bset}", "--inh-caps=-all", "--"]


def trial(caps: tuple[str, ...]) -> Trial:
    """A real agent with only ``caps``, and a real ping through it (both stopped after)."""
    addr = f"127.0.0.1:{free_port()}"
    proc, lines, ready = spawn_agent([*setpriv_argv(caps), BRTRACE, "agent", "--listen", addr,
                                      "--node", "node1"])
    try:
        ready.wait(AGENT_START_S)
        if proc.poll() is not None or not serving(lines):
            return Trial(caps, False, "agent: " + (_first_error("".join(lines)) or "did not start"))
        try:
            ping = subprocess.run([BRTRACE, "ping", *PING, "--agents", addr], capture_output=True,
                                  text=True, timeout=PING_S)
        except subprocess.TimeoutExpired:
            return Trial(caps, False, f"ping through the agent: no answer in {PING_S:.0f} s")
        delivered = '"status": "delivered"' in ping.stdout or '"status":"delivered"' in ping.stdout
        if ping.returncode == 0 and delivered:
            return Trial(caps, True, "")
        agent_err = _first_error("".join(lines))
        client = _first_error(ping.stderr) or f"not delivered (exit {ping.returncode})"
        return Trial(caps, False, f"ping: {client}" + (f"; agent: {agent_err}" if agent_err else ""))
    finally:
        stop_agent(proc, 15)


def measure(log: bool = True) -> dict[str, object]:
    """The minimal set and why each member is needed (see the module docstring)."""
    def run(caps: tuple[str, ...]) -> Trial:
        t = trial(caps)
        if log:
            print(f"{'ok  ' if t.ok else 'FAIL'} {','.join(caps) or '(none)'} {t.why}", file=sys.stderr)
        return t

    base = run(CANDIDATES)
    if not base.ok:
        raise RuntimeError(f"the agent fails even with every candidate capability: {base.why}")
    kept = list(CANDIDATES)
    for cap in CANDIDATES:
        if run(tuple(c for c in kept if c != cap)).ok:
            kept.remove(cap)
    final = run(tuple(kept))
    if not final.ok:
        raise RuntimeError(f"the minimal set does not work on its own: {final.why}")
    why = {c: run(tuple(x for x in kept if x != c)).why for c in kept}
    return {"capabilities": [f"CAP_{c.upper()}" for c in kept],
            "why": {f"CAP_{c.upper()}": w for c, w in why.items()},
            "candidates": [f"CAP_{c.upper()}" for c in CANDIDATES]}


def recorded() -> list[str]:
    """The measured set as recorded in the repo (``deploy/capabilities.json``)."""
    data = json.loads(RECORD.read_text(encoding="utf-8"))
    return [str(c) for c in data["capabilities"]]


def main() -> int:
    result = measure()
    text = json.dumps(result, indent=2) + "\n"
    if "--write" in sys.argv:
        RECORD.parent.mkdir(exist_ok=True)
        RECORD.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
