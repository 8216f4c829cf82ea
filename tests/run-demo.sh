#!/usr/bin/env bash
# run-demo.sh: what `make run` does after building. Boots hull's guest kernel
# with a tiny Go /init in a microVM under hull's own VMM and prints the boot
# timeline. Where this host has no usable KVM (`hull check` says why), it says
# so in one line and runs the very same command inside the project's nested
# runner (tests/nested/nested-kvm: QEMU software emulation with KVM inside).
# `hull` itself never falls back: this script makes that choice, visibly.
# Usage: tests/run-demo.sh KERNEL INITRD
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${1:?kernel} initrd=${2:?initrd}
boot=(bin/hull vm boot --kernel "$kernel" --initrd "$initrd" --mem 256 --cpus 2 --timeline
      --cmdline "console=ttyS0 reboot=k panic=-1 quiet")
if verdict=$(bin/hull check --quiet 2>&1); then
  echo "==> booting a microVM on this host's KVM"
  exec "${boot[@]}"
fi
echo "==> no usable KVM here (${verdict:-see bin/hull check}); running the same demo inside the nested runner (QEMU + KVM)"
exec tests/nested/nested-kvm --timeout 300 -- "${boot[@]}"
