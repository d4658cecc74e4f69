#!/bin/sh
# One node of the flannel lab inside a two-kernel VM (vm/guest-init.sh runs
# this when the kernel command line says brtrace_role=node1|node2; the host
# side is tests/vm2/). Built as tracer/lab/flannel.py builds a node: the node
# is the brt-nodeN netns holding the underlay NIC (renamed eth0, the QEMU
# socket link to the other VM), cni0, flannel.1 (VXLAN id 1, port 8472,
# learning off, static neigh + fdb) and one pod netns behind a veth. The
# agent runs in the VM's root netns, limited to those two namespaces, on the
# QEMU user-net NIC (restrict=on: the host's hostfwd is its only way in), so
# it must use TLS with client certificates (made by the host test).
set -u
role=$1
case $role in
node1) me=11 peer=12 idx=0 pidx=1 pod=pod-a paddr=10.244.0.2 mac=02:b7:0a:f4:00:00 pmac=02:b7:0a:f4:01:00 ;;
node2) me=12 peer=11 idx=1 pidx=0 pod=pod-b paddr=10.244.1.3 mac=02:b7:0a:f4:01:00 pmac=02:b7:0a:f4:00:00 ;;
*) echo "BRTRACE_NODE_FAILED unknown role $role"; exit 1 ;;
esac
fail() { echo "BRTRACE_NODE_FAILED $role: $*"; echo o > /proc/sysrq-trigger; exit 1; }
# The host gives the NICs fixed MACs: ...:b7:50:NN the underlay, ...:b7:00:NN user-net.
nic() { for d in /sys/class/net/*; do
    [ "$(cat "$d/address")" = "$1" ] && { basename "$d"; return 0; }; done; return 1; }
under=$(nic "52:54:00:b7:50:$me") || fail "no underlay NIC"
user=$(nic "52:54:00:b7:00:$me") || fail "no user-net NIC"
NODE=brt-$role POD=brt-$pod
trap 'fail "a lab step failed (set -e)"' EXIT
set -e
# QEMU's user network: the guest is always 10.0.2.15 (no DHCP client needed).
ip link set "$user" up
ip addr add 10.0.2.15/24 dev "$user"
ip netns add "$NODE"
ip netns add "$POD"
ip link set "$under" netns "$NODE"
ip -n "$NODE" link set "$under" name eth0
ip -n "$NODE" link set lo up
# (no procps in the image: sysctls are written to /proc/sys, inside the node netns)
ip netns exec "$NODE" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
ip netns exec "$NODE" sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables' || true
ip -n "$NODE" addr add "192.168.50.$me/24" dev eth0
ip -n "$NODE" link set eth0 up
ip -n "$NODE" link add cni0 mtu 1450 type bridge
ip -n "$NODE" addr add "10.244.$idx.1/24" dev cni0
ip -n "$NODE" link add flannel.1 address "$mac" mtu 1450 type vxlan id 1 \
    local "192.168.50.$me" dstport 8472 dev eth0 nolearning
ip -n "$NODE" addr add "10.244.$idx.0/32" dev flannel.1
ip -n "$NODE" link set cni0 up
ip -n "$NODE" link set flannel.1 up
ip -n "$NODE" route add "10.244.$pidx.0/24" via "10.244.$pidx.0" dev flannel.1 onlink
ip -n "$NODE" neigh add "10.244.$pidx.0" lladdr "$pmac" dev flannel.1 nud permanent
ip netns exec "$NODE" bridge fdb append "$pmac" dev flannel.1 dst "192.168.50.$peer"
ip -n "$NODE" link add "veth-$pod" mtu 1450 type veth peer name eth0 mtu 1450 netns "$POD"
ip -n "$NODE" link set "veth-$pod" master cni0
ip -n "$NODE" link set "veth-$pod" up
ip -n "$POD" link set lo up
ip -n "$POD" addr add "$paddr/24" dev eth0
ip -n "$POD" link set eth0 up
ip -n "$POD" route add default via "10.244.$idx.1"
set +e
trap - EXIT
c=/src/.brtrace-vm-certs
echo "BRTRACE_NODE_LAB $role up"
# The agent's stderr ("serving …") is what the host waits for. The clock lines
# give the host an independent bound on this VM's clock offset: the guest's
# CLOCK_MONOTONIC when it printed, read by the host no earlier than that.
.venv/bin/brtrace agent --listen 0.0.0.0:7946 --node "$role" --netns "$NODE,$POD" \
    --tls-cert "$c/agent.pem" --tls-key "$c/agent.key" --tls-ca "$c/ca.pem" 2>&1 &
i=0
while [ $i -lt 900 ]; do  # the host kills the VM long before; this bounds a lost one
    python3 -c 'import time; print("BRTRACE_CLOCK", time.monotonic_ns(), flush=True)'
    sleep 2; i=$((i + 2))
done
fail "not stopped by the host within 900 s"
