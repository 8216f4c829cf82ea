package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeHull stands in for `hull vm boot`: it prints the marker and writes a
// --timeline-json with first KVM_RUN at 2 ms and 10 MiB RSS of which 7 MiB
// are guest RAM. Extra shell code runs first.
func fakeHull(t *testing.T, dir, extra string) string {
	t.Helper()
	return script(t, dir, "hull", `
tl=
while [ $# -gt 0 ]; do
  case $1 in --timeline-json) tl=$2; shift ;; esac
  shift
done
`+extra+`
echo "[    0.1] Run /init as init process"
printf 'hello-init: pid=1\r\n'
printf '{"reason":"reset","message":"","timeline":[{"name":"process start","at_ns":0},{"name":"vm created","at_ns":1500000},{"name":"first KVM_RUN","at_ns":2000000},{"name":"stopped","at_ns":9000000}],"memory":{"vmm_rss":10485760,"guest_resident":7340032}}\n' > "$tl"
`)
}

// squeeze collapses runs of spaces, so checks do not depend on column widths.
func squeeze(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func bootFiles(t *testing.T, dir string) (kernel, initrd string) {
	t.Helper()
	kernel, initrd = filepath.Join(dir, "vmlinux"), filepath.Join(dir, "initrd.cpio")
	for _, f := range []string{kernel, initrd} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return kernel, initrd
}

func TestRunBootWithQEMU(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := bootFiles(t, dir)
	// QEMU's stand-in checks that it got the same kernel, initrd and cmdline.
	qemu := script(t, dir, "qemu", `
case "$*" in *"-kernel `+kernel+` -initrd `+initrd+` -append console=ttyS0 reboot=k panic=-1 quiet -no-reboot"*) ;; *) echo "bad args: $*"; exit 1 ;; esac
sleep 0.3; echo 'hello-init: pid=1'`)
	var progress bytes.Buffer
	rep, err := RunBoot(context.Background(), BootOptions{Hull: fakeHull(t, dir, ""), QEMU: qemu,
		Kernel: kernel, Initrd: initrd, Runs: 3, Warmup: 1, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 {
		var b bytes.Buffer
		_ = rep.Format(&b)
		t.Fatalf("failures:\n%s", b.String())
	}
	if len(rep.Hull) != 3 || len(rep.QEMURuns) != 3 {
		t.Fatalf("%d hull and %d QEMU runs kept, want 3 each (warm-up dropped)", len(rep.Hull), len(rep.QEMURuns))
	}
	s := rep.Stats
	if s.HullFirstKVMRun.N != 3 || s.HullFirstKVMRun.P50 != 2*time.Millisecond {
		t.Errorf("first KVM_RUN = %+v, want 3 × 2ms", s.HullFirstKVMRun)
	}
	if s.HullOverhead.N != 3 || s.HullOverhead.P50 != 3<<20 || s.HullVMMRSS.P50 != 10<<20 {
		t.Errorf("memory: overhead %+v, RSS %+v", s.HullOverhead, s.HullVMMRSS)
	}
	if s.QEMUToMarker.Min < 300*time.Millisecond {
		t.Errorf("QEMU to marker %+v, want >= 300ms", s.QEMUToMarker)
	}
	if s.Ratio <= 0 || s.Ratio >= 1 {
		t.Errorf("ratio = %v, want hull (no sleep) faster than QEMU (0.3 s)", s.Ratio)
	}
	if got := strings.Count(progress.String(), "\n"); got != 8 {
		t.Errorf("progress has %d lines, want 8 (4 rounds × 2):\n%s", got, progress.String())
	}

	var out bytes.Buffer
	if err := rep.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hull bench boot: 3 runs of each VMM (+1 warm-up), 1 vCPU, 256 MiB",
		"hull  process start -> first KVM_RUN  3/3  2.00 ms  2.00 ms  2.00 ms",
		"hull  VMM RSS - guest resident        3/3  3.00 MiB",
		"qemu  spawn -> marker                 3/3",
		"hull/QEMU, P50 spawn -> marker: 0.",
		"VMM RSS - guest resident, P50: 3.00 MiB (target <= 5.00 MiB: met)",
	} {
		if !strings.Contains(squeeze(out.String()), squeeze(want)) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "failed runs") {
		t.Errorf("report lists failures:\n%s", out.String())
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("json: %v", err)
	}
}

func TestRunBootWithoutQEMUInPath(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := bootFiles(t, dir)
	hull := fakeHull(t, dir, "")
	t.Setenv("PATH", t.TempDir()) // no qemu-system-x86_64 there
	rep, err := RunBoot(context.Background(), BootOptions{Hull: hull, Kernel: kernel, Initrd: initrd, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.QEMU != "" || !strings.Contains(rep.QEMUNote, "no qemu-system-x86_64 in PATH") || len(rep.QEMURuns) != 0 {
		t.Errorf("QEMU %q, note %q, %d runs", rep.QEMU, rep.QEMUNote, len(rep.QEMURuns))
	}
	var out bytes.Buffer
	if err := rep.Format(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "hull/QEMU: no ratio (no qemu-system-x86_64 in PATH") || strings.Contains(out.String(), "qemu  spawn") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestRunBootExplicitQEMUMissing(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := bootFiles(t, dir)
	_, err := RunBoot(context.Background(), BootOptions{Hull: fakeHull(t, dir, ""), QEMU: filepath.Join(dir, "nope"),
		Kernel: kernel, Initrd: initrd, Runs: 1})
	if err == nil || !strings.Contains(err.Error(), "QEMU") {
		t.Errorf("err = %v, want a QEMU error", err)
	}
}

func TestRunBootFailuresShowOutput(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := bootFiles(t, dir)
	hull := script(t, dir, "hull", `echo "Kernel panic - not syncing: VFS"; echo "hull: VM stopped: triple fault" >&2; exit 70`)
	rep, err := RunBoot(context.Background(), BootOptions{Hull: hull, NoQEMU: true, Kernel: kernel, Initrd: initrd, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 2 || rep.Stats.HullToMarker.N != 0 {
		t.Fatalf("failures %d, stats %+v", rep.Failures(), rep.Stats.HullToMarker)
	}
	var out bytes.Buffer
	if err := rep.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hull  spawn -> marker  0/2  -  -  -",
		"QEMU baseline not run: --no-qemu",
		`hull run 1: no "hello-init:" on stdout before exit (status 70); end of its output:`,
		"    | Kernel panic - not syncing: VFS",
		"    | hull: VM stopped: triple fault",
	} {
		if !strings.Contains(squeeze(out.String()), squeeze(want)) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunBootMissingTimelineIsANote(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := bootFiles(t, dir)
	hull := script(t, dir, "hull", `echo 'hello-init: pid=1'`) // writes no --timeline-json
	rep, err := RunBoot(context.Background(), BootOptions{Hull: hull, NoQEMU: true, Kernel: kernel, Initrd: initrd, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures() != 0 || rep.Stats.HullFirstKVMRun.N != 0 || rep.Hull[0].Note == "" {
		t.Errorf("report %+v", rep.Hull[0])
	}
	var out bytes.Buffer
	_ = rep.Format(&out)
	if !strings.Contains(out.String(), "not reported (no \"memory\"") || !strings.Contains(out.String(), "notes:\n  hull run 1: hull --timeline-json") {
		t.Errorf("report:\n%s", out.String())
	}
}
