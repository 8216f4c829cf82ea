package runtime

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func specWith(ann map[string]string, memLimit *int64) *specs.Spec {
	s := &specs.Spec{Annotations: ann}
	if memLimit != nil {
		s.Linux = &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: memLimit}}}
	}
	return s
}

func TestVMLimitsOf(t *testing.T) {
	host, ok := hostMemMiB()
	if !ok {
		t.Skip("no MemTotal in /proc/meminfo")
	}
	i64 := func(v int64) *int64 { return &v }
	cases := []struct {
		name     string
		ann      map[string]string
		limit    *int64
		want     string // error substring; "" = accepted
		mem      int
		duration time.Duration
	}{
		{name: "defaults", mem: DefaultVMMemMiB, duration: BootTimeout},
		{name: "memory limit", limit: i64(100 << 20), mem: 100 + VMOverheadMiB, duration: BootTimeout},
		{name: "memory limit rounds up", limit: i64(100<<20 + 1), mem: 101 + VMOverheadMiB, duration: BootTimeout},
		{name: "unlimited (-1)", limit: i64(-1), mem: DefaultVMMemMiB, duration: BootTimeout},
		{name: "annotation", ann: map[string]string{AnnotationVMMemory: "128", AnnotationVMBootTimeout: "7s"}, mem: 128, duration: 7 * time.Second},
		{name: "annotation beyond the host", ann: map[string]string{AnnotationVMMemory: "999999999"}, want: "the host has"},
		{name: "limit beyond the host", limit: i64(1 << 50), want: "the host has"},
		{name: "limit near 2^63 does not wrap", limit: i64(math.MaxInt64), want: "the host has"},
		{name: "annotation not a number", ann: map[string]string{AnnotationVMMemory: "lots"}, want: "want a number of MiB"},
		{name: "annotation too big for int", ann: map[string]string{AnnotationVMMemory: "99999999999999999999999"}, want: "want a number of MiB"},
		{name: "boot timeout garbage", ann: map[string]string{AnnotationVMBootTimeout: "soon"}, want: "hull.vm.boot_timeout"},
		{name: "boot timeout zero", ann: map[string]string{AnnotationVMBootTimeout: "0s"}, want: "more than 0"},
		{name: "boot timeout negative", ann: map[string]string{AnnotationVMBootTimeout: "-5s"}, want: "more than 0"},
		{name: "boot timeout beyond the limit", ann: map[string]string{AnnotationVMBootTimeout: "48h"}, want: "at most 1h0m0s"},
	}
	for _, c := range cases {
		l, err := VMLimitsOf(specWith(c.ann, c.limit))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && (l.MemMiB != c.mem || l.BootTimeout != c.duration || l.CPUs != 1):
			t.Errorf("%s: %+v, want %d MiB, 1 CPU, boot timeout %v", c.name, l, c.mem, c.duration)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrBadConfig)):
			t.Errorf("%s: %v, want an ErrBadConfig with %q (host %d MiB)", c.name, err, c.want, host)
		}
	}
}

func TestCheckHostMemory(t *testing.T) {
	host := func() (uint64, bool) { return 1024, true }
	if err := checkHostMemory(1024, host); err != nil {
		t.Errorf("1024 of 1024 MiB: %v", err)
	}
	err := checkHostMemory(1025, host)
	if err == nil || !strings.Contains(err.Error(), "the VM would need 1025 MiB of memory") || !strings.Contains(err.Error(), "the host has 1024 MiB") {
		t.Errorf("1025 of 1024 MiB: %v", err)
	}
	if err := checkHostMemory(-1, host); err == nil {
		t.Error("a negative size was accepted")
	}
	if err := checkHostMemory(1<<40, func() (uint64, bool) { return 0, false }); err != nil {
		t.Errorf("unknown host memory: %v, want no judgement", err)
	}
}

func TestVMPhasesLogAndParse(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l := LogOptions{Format: format, Debug: true}.logger(&buf)
		LogVMPhase(l, "c1", VMPhase{Name: PhaseAgentReady, At: 2412733456 * time.Nanosecond})
		LogVMPhase(l, "c2", VMPhase{Name: "first KVM_RUN", At: 5 * time.Millisecond})
		l.Warn("something else")
		out := buf.String()
		if format == "text" {
			want := `level=debug msg="vm phase" id=c1 phase="agent ready" ms=2412.733`
			if !strings.Contains(out, want) {
				t.Errorf("text log:\n%s\nwant a line with %s", out, want)
			}
			continue
		}
		if !strings.Contains(out, `"level":"debug","msg":"vm phase","id":"c1","phase":"agent ready","ms":2412.733}`) {
			t.Errorf("json log:\n%s", out)
		}
		got, err := ParseVMPhases(strings.NewReader(out + "not json\n{\"msg\":\"vm phase\"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || len(got["c1"]) != 1 || got["c1"][0].Name != PhaseAgentReady ||
			got["c1"][0].At != 2412733*time.Microsecond || got["c2"][0].At != 5*time.Millisecond {
			t.Errorf("parsed %+v", got)
		}
	}
	// Without --debug the timeline stays out of the log.
	var buf bytes.Buffer
	LogVMPhase(LogOptions{Format: "json"}.logger(&buf), "c1", VMPhase{Name: PhaseAgentReady})
	if buf.Len() != 0 {
		t.Errorf("logged without --debug: %s", buf.String())
	}
}

func TestLogOptionsArgs(t *testing.T) {
	if a := (LogOptions{Debug: true}).args(); a != nil {
		t.Errorf("no --log: %q, want none (the VMM's stderr is the container's)", a)
	}
	wd, _ := os.Getwd()
	a := LogOptions{File: "log.json", Format: "json", Debug: true}.args()
	want := []string{"--log", filepath.Join(wd, "log.json"), "--log-format", "json", "--debug"}
	if strings.Join(a, " ") != strings.Join(want, " ") {
		t.Errorf("args %q, want %q", a, want)
	}
}

func TestConsoleError(t *testing.T) {
	dir := t.TempDir()
	v := &vmSandbox{}
	base := errors.New("the guest's agent did not answer within 8s")
	if err := v.consoleError(base, dir); err != base {
		t.Errorf("no console: %v, want the error unchanged", err)
	}
	console := "early line\n\x1b[0mline with escapes\x07\r\n\n" + strings.Repeat("x", 300) + "\n\n"
	if err := os.WriteFile(filepath.Join(dir, ConsoleFile), []byte(console), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	v.log = LogOptions{Format: "json", Debug: true}.logger(&buf)
	err := v.consoleError(base, dir)
	if !errors.Is(err, base) || !strings.Contains(err.Error(), `; console.log ends: "`+strings.Repeat("x", 200)+`..."`) {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(buf.String(), `early line\n[0mline with escapes`) || !strings.Contains(buf.String(), `"level":"debug"`) {
		t.Errorf("logged %s", buf.String())
	}
}
