#!/usr/bin/env bash
# run-demo.sh: what `make run` does after building. Boots hull's default
# guest image (guest kernel + initramfs with hull-agent as /init) in a
# microVM under hull's own VMM: the agent comes up, prints "hull-agent
# ready" (listening on vsock port 1024: the VM has a virtio-vsock device),
# powers the VM off (hull.agent.exit=ready), and hull prints the boot
# timeline. Then a busybox container runs in its own microVM through the
# OCI runtime (tests/demo-container.sh). Where this host has no usable KVM (`hull check` says why), it
# says so in one line and runs the very same command inside the project's
# nested runner (tests/nested/nested-kvm: QEMU software emulation with KVM
# inside). `hull` itself never falls back: this script makes that choice,
# visibly.
# Usage: tests/run-demo.sh KERNEL INITRD [CMDLINE]
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${1:?kernel} initrd=${2:?initrd}
cmdline=${3:-console=ttyS0 reboot=k panic=-1 quiet hull.agent.exit=ready}
# the vsock device's host socket: on a tmpfs, which works natively and in the
# nested runner (where /tmp is the host's root over 9p and cannot hold sockets)
uds=/dev/shm/hull-demo-$$.sock
boot=(bin/hull vm boot --kernel "$kernel" --initrd "$initrd" --mem 256 --cpus 2 --timeline
      --vsock "cid=3,uds=$uds" --cmdline "$cmdline")
echo "==> kernel $kernel"
echo "==> initrd $initrd"
echo "==> cmdline $cmdline"
# then a container in a microVM (tests/demo-container.sh)
demo=(bash -c '"$@" && tests/demo-container.sh bin/hull' demo "${boot[@]}")
if verdict=$(bin/hull check --quiet 2>&1); then
  echo "==> booting a microVM on this host's KVM"
  exec "${demo[@]}"
fi
echo "==> no usable KVM here (${verdict:-see bin/hull check}); running the same demo inside the nested runner (QEMU + KVM)"
exec tests/nested/nested-kvm --timeout 300 -- "${demo[@]}"
