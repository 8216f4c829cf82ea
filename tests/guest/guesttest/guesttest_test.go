package guesttest_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hullvm/hull/internal/testtier"
	"github.com/hullvm/hull/tests/guest/guesttest"
)

// build runs `make -C tests/guest TARGET BUILD=<temp dir>` once per test
// binary and returns the build directory.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func build(t *testing.T) string {
	t.Helper()
	testtier.RequireTool(t, "gcc")
	mk := testtier.RequireTool(t, "make")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hull-guests-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		cmd := exec.Command(mk, "-s", "-C", "..", "all", "host", "BUILD="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make -C tests/guest all host: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir) // a temp dir; nothing to report if it lingers
	}
	os.Exit(code)
}

// TestELFLayout checks what hull's loader relies on: an x86-64 ET_EXEC with
// one PT_LOAD at virtual = physical 0x200000 and the entry point in it.
func TestELFLayout(t *testing.T) {
	dir := build(t)
	for _, name := range guesttest.Guests {
		t.Run(name, func(t *testing.T) {
			f, err := elf.Open(guesttest.Path(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
				t.Fatalf("class %v machine %v type %v, want ELFCLASS64 EM_X86_64 ET_EXEC", f.Class, f.Machine, f.Type)
			}
			var loads []*elf.Prog
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD {
					loads = append(loads, p)
				}
			}
			if len(loads) != 1 {
				t.Fatalf("%d PT_LOAD segments, want 1", len(loads))
			}
			p := loads[0]
			if p.Vaddr != guesttest.ELFBase || p.Paddr != guesttest.ELFBase {
				t.Errorf("PT_LOAD at vaddr %#x paddr %#x, want %#x", p.Vaddr, p.Paddr, guesttest.ELFBase)
			}
			if f.Entry != guesttest.ELFBase {
				t.Errorf("entry %#x, want %#x (_start first)", f.Entry, guesttest.ELFBase)
			}
			if p.Memsz < p.Filesz || p.Filesz == 0 {
				t.Errorf("filesz %#x memsz %#x", p.Filesz, p.Memsz)
			}
		})
	}
}

// hostRun runs the host build of a guest (host.c): serial output on stdout,
// the exit-port code as exit status (125: i8042 reset), notes on stderr.
func hostRun(t *testing.T, name string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(build(t), "host", name), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), status
}

const hostReset = 125 // host.c's exit status for the i8042 reset

func TestHostGuests(t *testing.T) {
	cl := "console=ttyS0 reboot=k hull.test=\"a b\""
	mem := guesttest.HullE820(256)
	var e820Args []string
	for _, e := range mem {
		e820Args = append(e820Args, fmt.Sprintf("%x:%x:%d", e.Addr, e.Size, e.Type))
	}
	tests := []struct {
		name, guest string
		args        []string
		want        string // whole stdout
		status      int
		stderr      string // substring
	}{
		{"hello", "hello", nil, guesttest.HelloLine + "\n", 0, "exit 0"},
		{"exitcode", "exitcode", nil, "", guesttest.ExitcodeCode, "exit 42"},
		{"cmdline", "cmdline", []string{cl}, guesttest.CmdlineLine(cl) + "\n", 0, "exit 0"},
		{"cmdline-empty", "cmdline", nil, guesttest.CmdlineLine("") + "\n", 0, "exit 0"},
		{"e820", "e820", append([]string{""}, e820Args...), guesttest.E820Output(mem), 0, "exit 0"},
		{"e820-none", "e820", nil, guesttest.E820Output(nil), 0, "exit 0"},
		{"reset", "reset", nil, guesttest.ResetLine + "\n", hostReset, "i8042 reset"},
		{"serialflood", "serialflood", nil, guesttest.FloodOutput(), 0, "exit 0"},
		{"ioloop", "ioloop", []string{"quiet " + guesttest.IOLoopCmdline(100000) + " x"},
			guesttest.IOLoopStart(100000) + "\n" + guesttest.IOLoopDone + "\n", 0, "port 0xf5 writes: 100000\n"},
		{"ioloop-absent", "ioloop", []string{"nn=5 xn=7"}, guesttest.IOLoopStart(0) + "\n" + guesttest.IOLoopDone + "\n", 0, "exit 0"},
		{"ioloop-trailing", "ioloop", []string{"n=4294967295x"}, "ioloop: bad n= on the command line\n", 2, "exit 2"},
		{"ioloop-overflow", "ioloop", []string{"n=4294967296"}, "ioloop: bad n= on the command line\n", 2, "exit 2"},
		{"ioloop-empty", "ioloop", []string{"n="}, "ioloop: bad n= on the command line\n", 2, "exit 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, status := hostRun(t, tc.guest, tc.args...)
			if out != tc.want {
				t.Errorf("stdout:\n%q\nwant:\n%q", trim(out), trim(tc.want))
			}
			if status != tc.status {
				t.Errorf("exit status %d, want %d", status, tc.status)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.stderr)
			}
		})
	}
}

// TestFloodOutput pins the flood geometry the kvm test relies on.
func TestFloodOutput(t *testing.T) {
	out := guesttest.FloodOutput()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != guesttest.FloodLines+1 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines[:guesttest.FloodLines] {
		if len(l)+1 != guesttest.FloodLineLen {
			t.Fatalf("line %d is %d bytes with its newline", i, len(l)+1)
		}
	}
	if got := len(out) - len(lines[guesttest.FloodLines]) - 1; got != 64<<10 {
		t.Fatalf("%d bytes of flood lines, want 64 KiB", got)
	}
}

func TestHullE820(t *testing.T) {
	for _, tc := range []struct {
		mem  int
		want []guesttest.E820Entry
	}{
		{256, []guesttest.E820Entry{{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, 0xff00000, 1}}},
		{3072, []guesttest.E820Entry{{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, 0xbff00000, 1}}},
		{4096, []guesttest.E820Entry{{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, 0xbff00000, 1}, {1 << 32, 1 << 30, 1}}},
	} {
		if got := guesttest.HullE820(tc.mem); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("HullE820(%d) = %v, want %v", tc.mem, got, tc.want)
		}
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:150] + " ... " + s[len(s)-150:]
	}
	return s
}
