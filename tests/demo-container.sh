#!/usr/bin/env bash
# demo-container.sh HULL: the container half of `make run`. Makes a busybox
# bundle (from this host's static busybox) on a tmpfs, runs it with
# `HULL run` (the vm sandbox: the container in its own microVM, its rootfs
# over virtio-9p, hull-agent creating it inside), and prints the
# container's output, its exit status and the VM's timeline from vm.log.
set -euo pipefail
hull=${1:?hull binary}
busybox=$(command -v busybox) || { echo "demo: no busybox (apt-get install busybox-static)"; exit 1; }
d=$(mktemp -d /dev/shm/hull-demo-XXXXXX)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/bundle/rootfs/{bin,proc,dev,sys,tmp}
cp "$busybox" "$d/bundle/rootfs/bin/busybox"
for a in sh echo uname hostname cat; do ln -s busybox "$d/bundle/rootfs/bin/$a"; done
cat > "$d/bundle/config.json" <<'JSON'
{"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "hostname": "demo",
 "process": {"args": ["sh", "-c", "echo hello from a container in a hull microVM; uname -sr; hostname"],
             "cwd": "/", "env": ["PATH=/bin"]},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}}
JSON
echo "==> hull run: a busybox container in its own microVM"
rc=0
"$hull" --root "$d/root" run --keep --bundle "$d/bundle" demo || rc=$?
echo "==> container exit status $rc; the VM's timeline (from hull create's start):"
sed -n 's/.*timeline /  /p' "$d/root/demo/vm.log"
"$hull" --root "$d/root" delete --force demo
exit "$rc"
