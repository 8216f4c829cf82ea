package hostcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormatAligned(t *testing.T) {
	r := &Report{
		Items: []Item{
			{Name: "/dev/kvm", Value: "opened read-write", OK: true},
			{Name: "KVM_CAP_IRQFD", Value: "missing", Note: "device interrupts\tthrough eventfds"},
			{Name: "/dev/vhost-net", Value: "missing", Optional: true, Note: "informational"},
		},
		Verdict: Broken,
		Line:    "broken KVM at /dev/kvm: missing KVM_CAP_IRQFD",
	}
	var b bytes.Buffer
	if err := r.Format(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 || lines[3] != "" || lines[4] != r.Line {
		t.Fatalf("output:\n%s", b.String())
	}
	for i, status := range []string{"ok", "FAIL", "--"} {
		if !strings.HasPrefix(lines[i], status+" ") {
			t.Errorf("row %d = %q, want status %q", i, lines[i], status)
		}
	}
	// Columns line up: every value starts at the same offset.
	col := strings.Index(lines[0], "opened")
	if strings.Index(lines[1], "missing") != col || strings.Index(lines[2], "missing") != col {
		t.Errorf("values not aligned:\n%s", b.String())
	}
	if strings.Count(b.String(), "\t") != 0 {
		t.Error("tabs left in the table")
	}
}

func TestJSON(t *testing.T) {
	r := &Report{
		Items:   []Item{{Name: "SYSCALL from guest user mode", Value: "faults at LSTAR"}},
		Verdict: Emulated,
		Line:    "emulated KVM",
		Probes:  &ProbeResult{CPL0NsPerIter: 1900, CPL3NsPerIter: 0.4, SyscallExit: "KVM_EXIT_SHUTDOWN"},
	}
	data, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Verdict  string `json:"verdict"`
		Line     string `json:"verdict_line"`
		ExitCode int    `json:"exit_code"`
		Items    []Item `json:"items"`
		Probes   *ProbeResult
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if got.Verdict != "emulated" || got.ExitCode != 2 || got.Line != "emulated KVM" || len(got.Items) != 1 || got.Probes == nil || got.Probes.CPL0NsPerIter != 1900 {
		t.Errorf("JSON round trip: %+v\n%s", got, data)
	}
	if r.VerdictLine() != "emulated KVM" || r.ExitCode() != 2 {
		t.Error("VerdictLine/ExitCode")
	}
}

func TestRunWithoutKVM(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "dev/net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dev/net/tun"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := Run(Options{KVMPath: filepath.Join(dir, "kvm"), DevRoot: dir})
	if r.Verdict != NoKVM || r.ExitCode() != 1 || r.Probes != nil {
		t.Fatalf("verdict %v exit %d, want no-kvm 1; %s", r.Verdict, r.ExitCode(), r.Line)
	}
	if !strings.Contains(r.VerdictLine(), "no such file") {
		t.Errorf("line %q does not say why", r.VerdictLine())
	}
	values := map[string]string{}
	for _, it := range r.Items {
		values[it.Name] = it.Value
	}
	if values[filepath.Join(dir, "kvm")] != "missing" || values["/dev/net/tun"] != "not a character device" || values["/dev/vhost-vsock"] != "missing" {
		t.Errorf("items: %+v", r.Items)
	}
	var b bytes.Buffer
	if err := r.Format(&b); err != nil {
		t.Fatal(err)
	}
	// The report's own FAIL row, asserted rather than logged (a logged
	// "FAIL" line reads like a failed test in the tier's output).
	if !strings.Contains(b.String(), "FAIL") || !strings.Contains(b.String(), "no KVM") {
		t.Errorf("report without its FAIL row or verdict:\n%s", b.String())
	}
}

// TestRunOnNonKVMDevice: a device that opens but answers no KVM ioctl is broken.
func TestRunOnNonKVMDevice(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip(err)
	}
	r := Run(Options{KVMPath: "/dev/null", DevRoot: t.TempDir()})
	if r.Verdict != Broken || r.ExitCode() != 1 {
		t.Fatalf("verdict %v, want broken; %s", r.Verdict, r.Line)
	}
	if !strings.Contains(r.VerdictLine(), "KVM_GET_API_VERSION") {
		t.Errorf("line %q does not name the failing ioctl", r.VerdictLine())
	}
}
