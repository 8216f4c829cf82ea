#!/usr/bin/env bash
# run-kvm-tier.sh: run the kvm test tier's prebuilt test binaries on this
# machine's /dev/kvm. `make test-kvm` builds everything it needs first
# (bin/kvmtest/*.test, the test guests, the guest kernel, the default guest
# image, bin/hello-init, bin/hull) and runs this script either directly (healthy KVM) or inside the
# nested runner: `tests/nested/nested-kvm -- tests/run-kvm-tier.sh`.
#
# Each bin/kvmtest/NAME.test runs in its package directory (read from
# NAME.test.dir, so testdata paths work) with -test.v -test.count=1, the
# output streamed. HULL_REQUIRE_KVM=1 turns every RequireKVM/RequireFile skip
# into a failure: a kvm-tier test that cannot run must never count as passed.
# Extra arguments go to every test binary (e.g. -test.run=Boot).
# HULL_KVM_STATE=DIR: resume. Each binary that ran to its end leaves
# DIR/NAME.done ("passed failed skipped exit"); a later call with the same DIR
# counts those and runs only the rest (the Makefile's retry after the nested
# runner's L1 froze).
# The last line is "kvm: N passed, M failed, K skipped" (top-level test
# functions; a binary that fails without a "--- FAIL" line counts once);
# the exit status is non-zero when anything failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root" || exit 125

export HULL_TIER=kvm HULL_REQUIRE_KVM=1
export HULL_TEST_GUESTS=${HULL_TEST_GUESTS:-$root/tests/guest/build}
export HULL_TEST_INIT=${HULL_TEST_INIT:-$root/bin/hello-init}
export HULL_BIN=${HULL_BIN:-$root/bin/hull}
if [ -z "${HULL_TEST_KERNEL:-}" ]; then
  HULL_TEST_KERNEL=$("$root/guest/build-kernel.sh" --print 2>/dev/null) || HULL_TEST_KERNEL=""
fi
export HULL_TEST_KERNEL
if [ -z "${HULL_TEST_IMAGE_KERNEL:-}" ] && img=$("$HULL_BIN" image default 2>/dev/null); then
  HULL_TEST_IMAGE_KERNEL=$(sed -n 1p <<< "$img") HULL_TEST_IMAGE_INITRD=$(sed -n 2p <<< "$img")
fi
export HULL_TEST_IMAGE_KERNEL=${HULL_TEST_IMAGE_KERNEL:-} HULL_TEST_IMAGE_INITRD=${HULL_TEST_IMAGE_INITRD:-}
timeout=${HULL_KVM_TEST_TIMEOUT:-7m}    # per binary: a hang ends with a goroutine dump
# Hard limit per binary, seconds. In the nested runner a test binary now and
# then stops making progress at a random test (about one tier run in three
# under load; the guest, the test's own deadline and its watchdog all stay
# silent, so the whole process or L1's output relay is stuck; cause not yet
# found, see tests/nested/README.md). The normal run of a binary takes < 60 s,
# but tests-kvm's containers in microVMs about 4 minutes.
hard=${HULL_KVM_BINARY_LIMIT:-480}
stalls=()
state=${HULL_KVM_STATE:-}
if [ -n "$state" ]; then mkdir -p "$state" || exit 125; fi

# In the nested runner / is the host's root over 9p, so /tmp, the kernel
# cache and bin/ are too. Linux tests write an initramfs (or disk images) to
# a temporary directory and read it straight back into guest memory, and
# twice such a run stalled in the VMM's build phase, before the guest ran.
# Keep everything the VMs read on L1's tmpfs instead: faster, and off 9p.
shm=""
if [ "${NESTED_KVM:-}" = 1 ] && [ -d /dev/shm ] && shm=$(mktemp -d /dev/shm/hull-kvm-tier.XXXXXX); then
  export TMPDIR=$shm/tmp
  mkdir -p "$TMPDIR"
  for v in HULL_TEST_KERNEL HULL_TEST_IMAGE_KERNEL HULL_TEST_IMAGE_INITRD HULL_TEST_INIT HULL_TEST_GUESTS HULL_BIN; do
    src=${!v:-}
    if [ -n "$src" ] && [ -e "$src" ] && cp -a "$src" "$shm/$v"; then export "$v=$shm/$v"; fi
  done
fi

shopt -s nullglob
bins=(bin/kvmtest/*.test)
if [ ${#bins[@]} = 0 ]; then
  echo "kvm tier: no test binaries in bin/kvmtest (run: make test-kvm)" >&2
  exit 1
fi
echo "kvm tier: ${#bins[@]} test binaries on $(uname -r)$([ "${NESTED_KVM:-}" = 1 ] && echo ' (nested runner)'), $(ls -l /dev/kvm 2>&1)"

pass=0 fail=0 skip=0 failed=()
log=$(mktemp "${TMPDIR:-/tmp}/hull-kvm-tier.XXXXXX")
trap 'rm -f "$log"; [ -z "$shm" ] || rm -rf "$shm"' EXIT
for bin in "${bins[@]}"; do
  name=$(basename "$bin" .test)
  dir=$(cat "$bin.dir" 2>/dev/null) || dir=""
  if [ -z "$dir" ] || ! [ -d "$root/$dir" ]; then
    echo "kvm tier: $bin: no package directory in $bin.dir" >&2
    fail=$((fail + 1)) failed+=("$name"); continue
  fi
  if [ -n "$state" ] && read -r p f s rc < "$state/$name.done" 2>/dev/null; then
    echo "=== kvm tier: $name: ran in an earlier runner call: exit $rc, $p passed, $f failed, $s skipped"
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
    [ "$f" = 0 ] || failed+=("$name")
    continue
  fi
  echo "=== kvm tier: $name ($dir)"
  t0=$SECONDS
  # A binary that outlives its hard limit stalled (see below) and is killed;
  # it then runs once more, and the stall is reported by name. A binary that
  # fails, or stalls twice, fails the tier.
  for attempt in 1 2; do
    (cd "$root/$dir" && exec timeout -k 10 "$hard" "$root/$bin" -test.v -test.count=1 -test.timeout="$timeout" "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" != 124 ] && [ "$rc" != 137 ]; then break; fi
    echo "kvm tier: STALL: $name was still running after $hard s and was killed (attempt $attempt; last test: $(grep '^=== RUN' "$log" | tail -n1))"
    stalls+=("$name")
  done
  p=$(grep -c '^--- PASS' "$log") f=$(grep -c '^--- FAIL' "$log") s=$(grep -c '^--- SKIP' "$log")
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    echo "kvm tier: $name exited $rc without a --- FAIL line (panic, timeout or TestMain)"
    f=1
  fi
  pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
  [ "$f" = 0 ] || failed+=("$name")
  echo "=== kvm tier: $name: exit $rc, $p passed, $f failed, $s skipped in $((SECONDS - t0)) s"
  [ -z "$state" ] || echo "$p $f $s $rc" > "$state/$name.done"
done
[ ${#failed[@]} = 0 ] || echo "kvm tier: failures in: ${failed[*]}"
[ ${#stalls[@]} = 0 ] || echo "kvm tier: STALLED and re-run: ${stalls[*]} (an open problem: tests/nested/README.md)"
echo "kvm: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
