#!/bin/bash
# `make image`: brtrace's container image, built locally (no registry is reachable).
#
# Two layers, so a code change does not rebuild Debian:
#  1. base: an mmdebstrap rootfs tarball (Debian bookworm, bcc, a headers tree,
#     brtrace's Python dependencies), cached outside the repo keyed by a hash of
#     this recipe and of pyproject's runtime requirements (as vm/build-image.sh);
#  2. brtrace itself (a wheel of this tree) appended to a copy of it, every time.
# Then, where a Docker daemon answers (DOCKER_HOST, else its default socket),
# `docker import` makes it brtrace:local. Prints the image tarball's path.
#
# bcc needs *a* headers tree (struct layouts come from the running kernel's
# BTF): Debian's split linux-headers (-common + -amd64) are merged into one
# tree at /usr/src/brtrace-kheaders and BCC_KERNEL_SOURCE points there, so the
# root filesystem can stay read-only and /lib/modules is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${BRTRACE_IMAGE_CACHE:-/var/cache/brtrace-image}
TAG=${BRTRACE_IMAGE_TAG:-brtrace:local}
SUITE=bookworm
PKGS=python3,python3-bpfcc,linux-headers-amd64,iproute2,iptables,util-linux
KHEADERS=/usr/src/brtrace-kheaders
# What `docker import` sets (the DaemonSet names its own command).
CHANGES=("ENV BCC_KERNEL_SOURCE=$KHEADERS"
         "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
         'CMD ["brtrace", "--help"]')
DOCKER=/usr/bin/docker  # another docker client may come first on PATH
[ -x "$DOCKER" ] || DOCKER=docker
say() { echo "image: $*" >&2; }

reqs=$(python3 - <<'PY'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
)
# The base's recipe is this script down to its second layer: editing below that
# line (or brtrace's code) rebuilds only the quick layer.
key=$( { sed '/^# Layer 2:/q' scripts/build-image.sh; echo "$reqs"; } | sha256sum | cut -c1-16)
base="$CACHE/base-$key.tar"
mkdir -p "$CACHE"
t0=$(date +%s)

if [ ! -f "$base" ]; then
    [ "$(id -u)" = 0 ] || { say "must run as root to build the base rootfs (mmdebstrap)"; exit 1; }
    command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends mmdebstrap >/dev/null
    say "building base $key (cold build: a few minutes)"
    stage=$(mktemp -d "$CACHE/brt-base.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    rootdir="$stage/root"
    # shellcheck disable=SC2016  # $1 is mmdebstrap's rootfs, expanded by its hook shell
    mmdebstrap --variant=minbase --include="$PKGS" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='set -e; c=$(ls -d "$1"/usr/src/linux-headers-*-common | sort -V | tail -1);
            a=$(ls -d "$1"/usr/src/linux-headers-*-amd64 | sort -V | tail -1);
            mkdir -p "$1'"$KHEADERS"'"; cp -al "$c/." "$1'"$KHEADERS"'/";
            cp -a --remove-destination "$a/." "$1'"$KHEADERS"'/"' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        "$SUITE" "$rootdir" \
        "deb http://deb.debian.org/debian $SUITE main" \
        "deb http://deb.debian.org/debian $SUITE-updates main" \
        "deb http://deb.debian.org/debian-security $SUITE-security main" >&2
    # Python deps into the image's dist-packages with the host's pip (the same
    # Python 3.11 as bookworm's), so the image needs neither pip nor network.
    # shellcheck disable=SC2086
    python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
        --only-binary=:all: --target "$rootdir/usr/local/lib/python3.11/dist-packages" $reqs >&2
    tar -cf "$stage/base.tar" -C "$rootdir" .
    mv "$stage/base.tar" "$base"
    rm -rf "$stage"
    trap - EXIT
    # Older recipes' bases are dead weight.
    find "$CACHE" -maxdepth 1 -name 'base-*.tar' ! -name "base-$key.tar" -delete
    say "base built in $(( $(date +%s) - t0 )) s"
fi

# Layer 2: brtrace itself, a wheel of this tree, installed beside its dependencies.
work=$(mktemp -d "$CACHE/brt-stage.XXXXXX")
trap 'rm -rf "$work"' EXIT
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$work/whl" . >&2
"$PY" -m pip install -q --disable-pip-version-check --no-deps --no-compile \
    --target "$work/root/usr/local/lib/python3.11/dist-packages" "$work"/whl/*.whl >&2
rm -rf "$work/root/usr/local/lib/python3.11/dist-packages/bin"
mkdir -p "$work/root/usr/local/bin"
cat > "$work/root/usr/local/bin/brtrace" <<'SH'
#!/usr/bin/python3
import sys

from tracer.cli.main import main

sys.exit(main())
SH
chmod 755 "$work/root/usr/local/bin/brtrace"
out="$CACHE/brtrace-image.tar"
cp "$base" "$out.partial"
# Only what the base lacks: a directory entry it already has would be a
# duplicate path, which docker import refuses.
(cd "$work/root" && find . -mindepth 1 \( ! -type d -o -path './usr/local/lib/python3.11/dist-packages/*' \) \
    -print) | tar -rf "$out.partial" -C "$work/root" --owner=0 --group=0 --no-recursion -T -
mv "$out.partial" "$out"

if "$DOCKER" info >/dev/null 2>&1; then
    args=()
    for c in "${CHANGES[@]}"; do args+=(--change "$c"); done
    "$DOCKER" import "${args[@]}" "$out" "$TAG" >/dev/null
    say "imported as $TAG"
else
    say "no Docker daemon answers: import it with docker import $(printf -- "--change '%s' " "${CHANGES[@]}")$out $TAG"
fi
say "done in $(( $(date +%s) - t0 )) s"
echo "$out"
