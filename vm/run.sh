#!/bin/bash
# `make vmtest`: run the kernel tests inside a QEMU VM on Debian's stock 6.1
# kernel (kprobes on), which exercises the hook path this machine cannot.
# Prints pytest's output from inside the VM and exits with pytest's code;
# any failure to build or boot the VM is a failure, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
fail() { echo "vmtest: FAILED: $*" >&2; exit 1; }

# TCG, not KVM: this machine's /dev/kvm is nested/PVM and slower than emulation.
ACCEL=${BRTRACE_VM_ACCEL:-tcg}
TIMEOUT=${BRTRACE_VM_TIMEOUT:-1500}  # seconds for the whole boot + tests

img=$(bash vm/build-image.sh) || fail "could not build the VM image (output above)"
[ -f "$img/done" ] || fail "vm/build-image.sh gave no image ($img)"

tmp=$(mktemp -d /tmp/brtrace-vm.XXXXXX) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
# A copy of the working tree (tracked and new files, not .venv or caches) on
# its own disk: the VM may write to it freely and nothing flows back but the console.
mkdir "$tmp/src"
git ls-files -z -co --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$tmp/src" \
    || fail "could not copy the working tree"
# pytest arguments for inside the VM, one a line. By default: the labs, the
# ping hop sequences and the kprobe tests. Every brtrace trace compiles its BPF
# program (~25 s under emulation), so the whole of tests/kernel would take
# ~30 min; those other files run natively (`make test`) and on demand here
# (`bash vm/run.sh tests/kernel tests/vm`).
[ $# -gt 0 ] || set -- tests/kernel/test_labs.py tests/kernel/test_ping.py tests/vm
printf '%s\n' "$@" > "$tmp/src/.brtrace-vm-args"
mkfs.ext4 -q -F -L brtsrc -d "$tmp/src" "$tmp/src.img" 512M >/dev/null || fail "mkfs.ext4 of the tree disk"

echo "vmtest: booting Debian's kernel under QEMU ($ACCEL); kernel tests run inside"
# -nic none: the VM has no network device at all, so nothing reaches outside.
# snapshot=on: the cached root image stays pristine (writes go to a temp
# overlay in $TMPDIR, deleted by QEMU). panic=-1 + -no-reboot: a guest panic
# ends QEMU at once instead of waiting for the timeout.
TMPDIR=$tmp timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -accel "$ACCEL" -cpu max -smp 2 -m 2048 -nic none -no-reboot \
    -display none -monitor none -serial stdio \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet panic=-1 init=/sbin/brtrace-vm-init" \
    -drive file="$img/root.img",if=virtio,format=raw,snapshot=on \
    -drive file="$tmp/src.img",if=virtio,format=raw \
    </dev/null 2>&1 | sed -u 's/\r$//' | tee "$tmp/console.log" \
    | sed -un '/^BRTRACE_VM_BEGIN/,/^BRTRACE_VM_RC=/{/^BRTRACE_VM_RC=/!p}'
qrc=${PIPESTATUS[0]}

rc=$(grep -ao '^BRTRACE_VM_RC=[0-9]*' "$tmp/console.log" | tail -1 | cut -d= -f2)
if [ -z "$rc" ]; then
    echo "--- last lines of the VM console ---" >&2
    tail -40 "$tmp/console.log" >&2
    [ "$qrc" = 124 ] && fail "the VM did not finish within ${TIMEOUT}s (BRTRACE_VM_TIMEOUT)"
    fail "the VM did not boot or did not report a result (qemu exit code $qrc)"
fi
echo "vmtest: the VM run (pytest) exited $rc; vmtest took $(( $(date +%s) - t0 )) s"
exit "$rc"
