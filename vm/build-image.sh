#!/bin/bash
# Build (once) the VM that runs brtrace's kernel tests on a stock Debian kernel
# with kprobes. Prints the cache directory holding root.img, vmlinuz, initrd.img.
#
# The image is cached outside the repo, keyed by a hash of this recipe and of
# brtrace's Python requirements, so it is rebuilt exactly when either changes.
# Only the build reaches the network (Debian mirror, PyPI); the VM never does.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${BRTRACE_VM_CACHE:-/var/cache/brtrace-vm}
SUITE=bookworm
# What the tests need inside: bcc and a headers tree matching the VM kernel
# (bcc compiles against /lib/modules/$(uname -r)/build), the lab tools
# (iproute2, iptables for the docker lab's NAT), bpftool (tests assert no
# brt_ program outlives a run), kmod for modprobe. python3-venv: the guest
# makes a .venv like the host's so tests find .venv/bin/brtrace.
PKGS=linux-image-amd64,linux-headers-amd64,python3,python3-venv,python3-bpfcc,bpfcc-tools,iproute2,iptables,iputils-ping,kmod,bpftool,util-linux
say() { echo "vm-build: $*" >&2; }

# brtrace's runtime + test requirements from pyproject.toml, minus the dev
# tools and host-only test parts the VM does not run (TUI snapshot plugin,
# mypy, ruff, stubs, the gRPC code generator, the browser driver, the
# Kubernetes client and schema validator): smaller image, faster build.
reqs=$(python3 - <<'PY'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
skip = ("pytest-textual-snapshot", "mypy", "ruff", "types-", "grpcio-tools", "playwright",
        "kubernetes", "PyYAML")
print("\n".join(r for r in p["dependencies"] + p["optional-dependencies"]["test"]
                if not r.startswith(skip)))
PY
)
key=$( { cat vm/build-image.sh; echo "$reqs"; } | sha256sum | cut -c1-16)
out="$CACHE/$key"
if [ -f "$out/done" ]; then
    echo "$out"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "must run as root to build the VM image (mmdebstrap, device nodes)"; exit 1
fi
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

say "building image $key (cold build: a few minutes)"
t0=$(date +%s)
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootdir="$work/root"

# Docs, man pages and locales are a third of the tree and nobody reads them in the VM.
mmdebstrap --variant=minbase --include="$PKGS" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='echo brtrace-vm > "$1/etc/hostname"' \
    "$SUITE" "$rootdir" \
    "deb http://deb.debian.org/debian $SUITE main" \
    "deb http://deb.debian.org/debian $SUITE-updates main" \
    "deb http://deb.debian.org/debian-security $SUITE-security main" >&2

# Python deps into the guest's dist-packages, with the host's pip (same
# Python 3.11 as the guest), so the VM needs neither pip nor network.
# shellcheck disable=SC2086
python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
    --only-binary=:all: --target "$rootdir/usr/local/lib/python3.11/dist-packages" $reqs >&2

# PID 1 stub: the real guest logic lives in the tree (vm/guest-init.sh) so it
# can change without rebuilding the image.
cat > "$rootdir/sbin/brtrace-vm-init" <<'INIT'
#!/bin/sh
mountpoint -q /proc || mount -t proc proc /proc
mkdir -p /src && mount -t ext4 /dev/vdb /src && exec /bin/sh /src/vm/guest-init.sh
echo "BRTRACE_VM_RC=97 (could not mount the tree disk)"
echo o > /proc/sysrq-trigger; while :; do :; done
INIT
chmod 755 "$rootdir/sbin/brtrace-vm-init"

cp "$rootdir"/boot/vmlinuz-* "$work/vmlinuz"
cp "$rootdir"/boot/initrd.img-* "$work/initrd.img"
size=$(( $(du -sm "$rootdir" | cut -f1) + 1024 ))  # headroom for the tests' writes
mkfs.ext4 -q -F -L brtroot -d "$rootdir" "$work/root.img" "${size}M" >&2
rm -rf "$rootdir"
touch "$work/done"
rm -rf "$out" && mv "$work" "$out"
trap - EXIT
# Older recipes' images are dead weight (build.* may be another build in progress).
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name 'build.*' -exec rm -rf {} +
say "image $key built in $(( $(date +%s) - t0 )) s"
echo "$out"
