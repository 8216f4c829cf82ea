#!/usr/bin/env bash
# run.sh: hull's benchmarks, each beside its baseline in the same run, on this
# machine's /dev/kvm. Meant to run inside the nested runner
# (tests/nested/nested-kvm -- tests/bench/run.sh) or on a healthy KVM host;
# everything is built on the host first (compiling inside the runner is slow):
#
#   bin/hull                      make build
#   the guest kernel              guest/build-kernel.sh
#   bin/hello.cpio                make run (hello-init as /init)
#   tests/guest/build/ioloop.elf  make -C tests/guest
#   tests/bench/build/ioexit      make -C tests/bench
#
# It runs
#   hull bench boot    5 boots each of hull and QEMU microvm to hello-init's
#                      line: spawn -> marker, spawn -> exit, process start ->
#                      first KVM_RUN, VMM RSS - guest resident, hull/QEMU ratio
#   hull bench ioexit  ns per I/O exit of hull's vCPU loop and of the C loop
#
# Usage: tests/bench/run.sh [KERNEL [INITRD]]
# Environment: HULL_BIN, HULL_TEST_KERNEL, HULL_BENCH_INITRD, HULL_TEST_GUESTS,
# HULL_BENCH_RUNS (5), HULL_BENCH_IOEXITS (200000; 20000 in the nested
# runner, where an exit costs ~40-80 us), HULL_BENCH_OUT (a directory for the
# JSON reports). Exit status: non-zero when a benchmark failed or something
# it needs is missing.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$root" || exit 1

hull=${HULL_BIN:-$root/bin/hull}
kernel=${1:-${HULL_TEST_KERNEL:-$(guest/build-kernel.sh --print 2>/dev/null)}}
initrd=${2:-${HULL_BENCH_INITRD:-$root/bin/hello.cpio}}
guest=${HULL_TEST_GUESTS:-$root/tests/guest/build}/ioloop.elf
cbase=$root/tests/bench/build/ioexit
runs=${HULL_BENCH_RUNS:-5}
if [ "${NESTED_KVM:-}" = 1 ]; then n=${HULL_BENCH_IOEXITS:-20000}; else n=${HULL_BENCH_IOEXITS:-200000}; fi
out=${HULL_BENCH_OUT:-}

missing=()
check() { [ -n "$2" ] && [ -e "$2" ] || missing+=("$1 (${2:-unset}): $3"); }
check "hull" "$hull" "make build"
check "guest kernel" "$kernel" "guest/build-kernel.sh"
check "initramfs" "$initrd" "make run builds bin/hello.cpio"
check "ioloop guest" "$guest" "make -C tests/guest"
check "C baseline" "$cbase" "make -C tests/bench"
if [ ${#missing[@]} -gt 0 ]; then
  printf 'bench: missing %s\n' "${missing[@]}" >&2
  exit 1
fi
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
  echo "bench: no usable /dev/kvm here; run inside the nested runner: tests/nested/nested-kvm -- $0" >&2
  exit 1
fi

where="KVM host"
[ "${NESTED_KVM:-}" = 1 ] && where="nested runner (QEMU TCG L1, $(grep -q svm /proc/cpuinfo && echo 'AMD SVM' || echo 'no SVM?'))"
echo "==> bench host: $where, kernel $(uname -r), $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
json() { [ -n "$out" ] && { mkdir -p "$out"; echo "--json=$out/$1.json"; }; }

rc=0
echo "==> hull bench boot ($runs runs each, hull vs QEMU microvm)"
# shellcheck disable=SC2046
"$hull" bench boot --kernel "$kernel" --initrd "$initrd" --runs "$runs" $(json boot) || rc=1
echo
echo "==> hull bench ioexit (n=$n, C baseline $cbase)"
# shellcheck disable=SC2046
"$hull" bench ioexit --guest "$guest" --n "$n" --c-baseline "$cbase" --rounds 3 $(json ioexit) || rc=1
exit $rc
