#!/bin/sh
# PID 1 inside the test VM (started by the image's /sbin/brtrace-vm-init with
# the tree mounted at /src). Runs the kernel tests once, prints pytest's output
# and "BRTRACE_VM_RC=<exit code>" on the serial console, then powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
# initramfs-tools moves /proc, /sys, /dev and /run onto the root; mount what is missing.
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mkdir -p /run/netns
ip link set lo up
# The labs need these; they would autoload, but loading them up front keeps
# the first test's timing honest. br_netfilter: labs set bridge-nf-call-iptables;
# tun: no udev here to create /dev/net/tun, and the bridge lab has a tap port.
modprobe -a bridge veth vxlan br_netfilter tun

cd /src || exit 1
# The same layout as a host after `make setup`: tests call .venv/bin/brtrace.
# The tree is importable through a .pth (the copy is throwaway, so no install).
python3 -m venv --system-site-packages --without-pip .venv
echo /src > .venv/lib/python3.11/site-packages/brtrace-src.pth
printf '#!/src/.venv/bin/python\nimport sys\nfrom tracer.cli.main import main\nsys.exit(main())\n' > .venv/bin/brtrace
chmod 755 .venv/bin/brtrace

# A node of the two-kernel test (tests/vm2/) instead of the kernel tests.
role=$(sed -n 's/.*brtrace_role=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$role" ] && exec /bin/sh /src/vm/guest-node.sh "$role"

echo "BRTRACE_VM_BEGIN kernel $(uname -r), $(( $(cut -d. -f1 /proc/uptime) )) s after boot"
# vm/run.sh chooses the pytest arguments, one a line.
set --
while IFS= read -r a; do set -- "$@" "$a"; done < .brtrace-vm-args
BRTRACE_IN_VM=1 .venv/bin/python -m pytest -v -rfE --color=no -p no:cacheprovider "$@" 2>&1
rc=$?
echo "BRTRACE_VM_RC=$rc"
sync
# A plain exit would panic PID 1; sysrq power-off needs no userspace.
echo o > /proc/sysrq-trigger
while :; do :; done
