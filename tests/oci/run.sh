#!/usr/bin/env bash
# tests/oci/run.sh: the OCI conformance harness for humans (docs/CONFORMANCE.md).
# Runs the runtime-tools validation suite as root, from the repository root,
# against runc and hull (or the runtimes given with -runtime) and prints a
# per-program table. Flags go to tests/oci/ocirun; -h lists them.
#
#   sudo tests/oci/run.sh
#   sudo tests/oci/run.sh -runtime runc -run 'kill|delete'
#   sudo tests/oci/run.sh -runtime runc -runtime 'hull=bin/hull --sandbox=process' -strict
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/ocirun ./tests/oci/ocirun
if ! printf '%s\n' "$@" | grep -q -- '^--*runtime'; then
  # The default runtimes: runc, and hull when bin/hull has the OCI verbs.
  # Build it fresh; when that fails, test runc alone rather than a stale hull.
  if ! CGO_ENABLED=0 go build -trimpath -o bin/hull ./cmd/hull; then
    echo "run.sh: building bin/hull failed (above); testing runc only" >&2
    exec bin/ocirun -runtime runc "$@"
  fi
fi
exec bin/ocirun "$@"
