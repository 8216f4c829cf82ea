#!/usr/bin/env bash
# build-kernel.sh: build hull's guest kernel (ELF vmlinux, never bzImage) from
# Debian's linux-source-6.1 and guest/kernel.config, cached by source version
# and fragment hash under ${HULL_CACHE:-~/.cache/hull}/kernel-<key>/.
# Prints the path of the cached vmlinux on stdout (progress goes to stderr).
# A rebuild with nothing changed costs well under a second.
#   --install        apt-get install what the build needs (as root)
#   --print          only print the path the kernel would have (no build)
#   --config-only    stop after configuring: print the final .config on
#                    stdout, exit 1 if a fragment line did not make it in
#                    (about 30 s; the guestimage kconfig test runs it)
#   --fragment FILE  use FILE instead of guest/kernel.config
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
frag=$here/kernel.config
cache=${HULL_CACHE:-$HOME/.cache/hull}
pkgs="linux-source-6.1 bc flex bison libelf-dev build-essential cpio xz-utils"
install=0 print=0 configonly=0
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install=1;; --print) print=1;; --config-only) configonly=1;;
    --fragment) [ $# -ge 2 ] || { echo "build-kernel.sh: --fragment needs a file" >&2; exit 2; }
      frag=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift;;
    *) echo "build-kernel.sh: unknown option $1" >&2; exit 2;;
  esac
  shift
done
[ -r "$frag" ] || { echo "build-kernel.sh: cannot read the fragment $frag" >&2; exit 2; }
log() { echo "build-kernel: $*" >&2; }
if [ "$install" = 1 ] && ! dpkg-query -W -f='${Status}' linux-source-6.1 2>/dev/null | grep -q 'ok installed'; then
  log "installing $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $pkgs >&2; }
fi
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
  { echo "build-kernel.sh: linux-source-6.1 is not installed (run with --install)" >&2; exit 1; }
key=$( { echo "linux-source-6.1 $srcver"; cat "$frag"; } | sha256sum | cut -c1-16)
out=$cache/kernel-$key
if [ "$print" = 1 ]; then echo "$out/vmlinux"; exit 0; fi
if [ "$configonly" = 0 ] && [ -s "$out/vmlinux" ]; then echo "$out/vmlinux"; exit 0; fi

t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/hull-kbuild.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking linux-source-6.1 $srcver"
tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
src=$work/linux-source-6.1 b=$work/build
mkdir -p "$b"
log "configuring (tinyconfig + $(basename "$frag"))"
make -s -C "$src" ARCH=x86_64 O="$b" tinyconfig >&2
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n -O "$b" "$b/.config" "$frag" >/dev/null)
# every line of the fragment must have survived: Kconfig drops options silently
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$b/.config" || { log "not in final .config: $line"; missing=1; };;
    "# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}
      if grep -q "^$sym=" "$b/.config"; then log "set although the fragment turns it off: $sym"; missing=1; fi;;
  esac
done < "$frag"
if [ "$configonly" = 1 ]; then
  cat "$b/.config"
  [ "$missing" = 0 ] || { echo "build-kernel.sh: the fragment does not apply cleanly (above)" >&2; exit 1; }
  log "configured in $(( $(date +%s) - t0 )) s; every fragment line is in the final .config"
  exit 0
fi
[ "$missing" = 0 ] || { echo "build-kernel.sh: the fragment does not apply cleanly (above)" >&2; exit 1; }
log "building vmlinux with $(nproc) jobs (about 7 minutes on 2 cores)"
make -C "$src" ARCH=x86_64 O="$b" -j"$(nproc)" vmlinux > "$work/build.log" 2>&1 ||
  { tail -n 30 "$work/build.log" >&2; echo "build-kernel.sh: kernel build failed" >&2; exit 1; }
mkdir -p "$out.tmp"
strip -o "$out.tmp/vmlinux" "$b/vmlinux"
cp "$b/.config" "$out.tmp/config"
{ echo "source=linux-source-6.1 $srcver"; echo "fragment_sha256=$(sha256sum "$frag" | cut -d' ' -f1)"
  echo "build_seconds=$(( $(date +%s) - t0 ))"; } > "$out.tmp/info"
rm -rf "$out"; mv "$out.tmp" "$out"
log "built $out/vmlinux ($(stat -c %s "$out/vmlinux") bytes) in $(( $(date +%s) - t0 )) s"
echo "$out/vmlinux"
