#!/bin/sh
# verify-elf.sh ELF...: checks with readelf that each test guest is an x86-64
# ET_EXEC with exactly one PT_LOAD, at virtual = physical 0x200000 (2 MiB),
# and its entry point inside that segment. Used by `make verify`.
set -eu
READELF=${READELF:-readelf}
status=0
for f in "$@"; do
	hdr=$($READELF -hW "$f")
	bad=
	echo "$hdr" | grep -Eq 'Type:[[:space:]]+EXEC' || bad="not ET_EXEC"
	echo "$hdr" | grep -Eq 'Machine:.*X86-64' || bad="${bad:-not x86-64}"
	entry=$(echo "$hdr" | awk '/Entry point address:/ { print $4 }')
	loads=$($READELF -lW "$f" | awk '$1 == "LOAD" { print $3, $4, $6 }')
	n=$(printf '%s\n' "$loads" | grep -c . || true)
	if [ -z "$bad" ] && [ "$n" -ne 1 ]; then
		bad="$n PT_LOAD segments, want 1"
	fi
	if [ -z "$bad" ]; then
		set -- $loads
		va=$1 pa=$2 memsz=$3
		if [ $((va)) -ne $((0x200000)) ] || [ $((pa)) -ne $((0x200000)) ]; then
			bad="PT_LOAD at vaddr $va paddr $pa, want 0x200000"
		elif [ $((entry)) -lt $((va)) ] || [ $((entry)) -ge $((va + memsz)) ]; then
			bad="entry $entry outside [$va, +$memsz)"
		fi
	fi
	if [ -n "$bad" ]; then
		echo "$f: $bad" >&2
		status=1
	else
		echo "$f: ok (one PT_LOAD at 0x200000, memsz $memsz, entry $entry)"
	fi
done
exit $status
