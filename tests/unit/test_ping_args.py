"""``brtrace ping`` arguments (issue 18, items 3 and 8): destinations it cannot
trace are refused with one line, and without --from the source is the
namespace that reaches DEST directly."""

from __future__ import annotations

import pytest

from tracer.errors import BrtraceError
from tracer.ping import choose_source, parse_dest
from tracer.topology.model import Address, Link, Netns, PeerRef, RouteEntry, Topology


@pytest.mark.parametrize("dest,word", [("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"),
                                       ("239.1.2.3", "multicast"), ("0.0.0.0", "0.0.0.0")])
def test_destinations_without_one_path_are_refused_in_one_line(dest: str, word: str) -> None:
    with pytest.raises(BrtraceError) as exc:
        parse_dest(dest)
    assert word in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.exit_code == 2


def test_unicast_passes() -> None:
    assert parse_dest("10.244.1.3") == "10.244.1.3"


def _topo() -> Topology:
    """node1 with cni0 (10.244.0.1/24) and eth0 on 192.168.50.0/24; pod-a behind cni0."""
    pod = Netns("brt-pod-a", 2, links=(
        Link(2, "eth0", "veth", peer=PeerRef(1, 5), addresses=(Address("10.244.0.2", 24),)),),
        routes=(RouteEntry("10.244.0.0/24", ifindex=2, scope="link"),
                RouteEntry("default", gateway="10.244.0.1", ifindex=2)))
    node = Netns("brt-node1", 1, links=(
        Link(3, "eth0", "veth", addresses=(Address("192.168.50.11", 24),)),
        Link(4, "cni0", "bridge", addresses=(Address("10.244.0.1", 24),)),
        Link(5, "veth-pod-a", "veth", master=4, peer=PeerRef(2, 2))),
        routes=(RouteEntry("192.168.50.0/24", ifindex=3, scope="link"),
                RouteEntry("10.244.0.0/24", ifindex=4, scope="link")))
    return Topology(namespaces=(pod, node))


def test_a_connected_route_wins_over_a_pods_default_route() -> None:
    assert choose_source(_topo(), "192.168.50.12", None).name == "brt-node1"


def test_pods_still_come_first_on_their_own_subnet() -> None:
    assert choose_source(_topo(), "10.244.0.3", None).name == "brt-pod-a"


def test_sigterm_in_a_forked_copy_kills_it_and_raises_only_in_the_installer() -> None:
    """pyroute2 forks (no exec) for every namespace socket and ends the copy
    with SIGTERM: the copy must die, not raise and run on as the parent."""
    import os
    import signal
    import time

    from tracer import interrupt

    old = signal.getsignal(signal.SIGTERM)
    try:
        interrupt.install()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: says it is ready, then waits for SIGTERM to end it
            os.write(w, b"r")
            for _ in range(50):  # bounded: 5 s
                time.sleep(0.1)
            os._exit(3)  # reached only if SIGTERM was swallowed
        os.read(r, 1)  # a signal sent before the copy's interpreter is ready would be dropped
        os.close(r)
        os.close(w)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
        with pytest.raises(interrupt.Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert interrupt.exit_code(interrupt.Terminated()) == 143
        assert interrupt.exit_code(KeyboardInterrupt()) == 130
    finally:
        signal.signal(signal.SIGTERM, old)
