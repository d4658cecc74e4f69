#!/bin/bash
# One-time (idempotent) set-up of a Debian 12 machine for brtrace, as root.
# Installs only what is missing; a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(python3-bpfcc bpfcc-tools linux-headers-amd64 iproute2 iptables python3-venv
          python3-pip tshark tmux iputils-ping procps kmod tcpdump libpcap0.8 iperf3 bpftool chromium nftables
          mmdebstrap)  # mmdebstrap: `make image` (scripts/build-image.sh, tests/kernel/test_image.py)
say() { echo "setup: $*"; }

if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root (it installs packages and loads eBPF)" >&2
    exit 77
fi

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A real Docker daemon for the container-name tests: tests/support/dockerd.py runs it
# in its own netns with private dirs, never as the packaged service. docker.io brings
# containerd and its ctr client; busybox-static is the test image's rootfs (no registry
# is reachable). Without --no-install-recommends docker.io pulls apparmor, criu, git.
RUNTIME_PKGS=(docker.io busybox-static)
missing_rt=()
for p in "${RUNTIME_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_rt+=("$p")
done
if [ ${#missing_rt[@]} -gt 0 ]; then
    say "installing ${missing_rt[*]} (the packaged service is kept from starting)"
    export DEBIAN_FRONTEND=noninteractive
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing_rt[@]}" >/dev/null; } || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || exit "$rc"
    if command -v systemctl >/dev/null && [[ " ${missing_rt[*]} " == *" docker.io "* ]]; then
        systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
    fi
fi

# bcc compiles against *a* headers tree; brtrace takes real struct layouts from
# BTF, so Debian's newest linux-headers tree serves any running kernel.
mod="/lib/modules/$(uname -r)"
if [ ! -e "$mod/build" ]; then
    hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
    common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1)
    if [ -n "$hdr" ]; then
        say "linking $mod/build -> $hdr"
        mkdir -p "$mod"
        ln -sfn "$hdr" "$mod/build"
        [ -n "$common" ] && ln -sfn "$common" "$mod/source"
    fi
fi

if [ ! -d /sys/kernel/tracing/events ]; then
    say "mounting tracefs"
    mount -t tracefs tracefs /sys/kernel/tracing || true
fi

# A venv that sees Debian's bcc (the PyPI "bcc" is another project).
if [ ! -x .venv/bin/python ]; then
    say "creating .venv (with system site packages, for bcc)"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.brtrace-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing brtrace and its Python dependencies into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi
if [ "$(readlink -f /usr/local/bin/brtrace 2>/dev/null)" != "$(readlink -f .venv/bin/brtrace)" ]; then
    ln -sfn "$PWD/.venv/bin/brtrace" /usr/local/bin/brtrace
    say "brtrace is on PATH: /usr/local/bin/brtrace"
fi
