package clitests

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// noKVM matches the error hull gives when it cannot use /dev/kvm
// (vmm.ErrNoKVM).
var noKVM = regexp.MustCompile(`(?i)no usable KVM`)

// tinyELF writes a valid ELF64 x86-64 ET_EXEC with one PT_LOAD at 2 MiB
// holding `hlt; jmp .-1`, so that a test can make one input bad at a time.
func tinyELF(t *testing.T) string {
	t.Helper()
	const (
		base     = 0x200000
		ehsize   = 64
		phsize   = 56
		codeOff  = ehsize + phsize
		etExec   = 2
		emX86_64 = 62
		ptLoad   = 1
		pfRWX    = 7
	)
	code := []byte{0xf4, 0xeb, 0xfd} // hlt; jmp back to hlt
	b := make([]byte, codeOff+len(code))
	copy(b, "\x7fELF\x02\x01\x01") // ELFCLASS64, little-endian, EV_CURRENT
	le := binary.LittleEndian
	le.PutUint16(b[16:], etExec)
	le.PutUint16(b[18:], emX86_64)
	le.PutUint32(b[20:], 1)            // e_version
	le.PutUint64(b[24:], base+codeOff) // e_entry
	le.PutUint64(b[32:], ehsize)       // e_phoff
	le.PutUint16(b[52:], ehsize)       // e_ehsize
	le.PutUint16(b[54:], phsize)       // e_phentsize
	le.PutUint16(b[56:], 1)            // e_phnum
	ph := b[ehsize:]
	le.PutUint32(ph[0:], ptLoad)
	le.PutUint32(ph[4:], pfRWX)
	le.PutUint64(ph[8:], 0)               // p_offset: the whole file
	le.PutUint64(ph[16:], base)           // p_vaddr
	le.PutUint64(ph[24:], base)           // p_paddr
	le.PutUint64(ph[32:], uint64(len(b))) // p_filesz
	le.PutUint64(ph[40:], uint64(len(b))) // p_memsz
	le.PutUint64(ph[48:], 0x1000)         // p_align
	copy(b[codeOff:], code)
	p := filepath.Join(t.TempDir(), "tiny.elf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVMBootBadInput: each bad input ends hull with one line on stderr that
// names the cause. Where hull checks an input only after opening /dev/kvm, a
// host without KVM gets the no-KVM line instead; the shape is checked
// anyway, the cause then only where KVM is usable.
func TestVMBootBadInput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HULL_CACHE", t.TempDir()) // no default guest image
	notELF := filepath.Join(dir, "vmlinux.txt")
	if err := os.WriteFile(notELF, []byte("this is not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kernel := tinyELF(t)
	for _, tc := range []struct {
		name  string
		args  []string
		cause *regexp.Regexp // what the line must say
		usage bool           // a usage error: exit status 2, found before anything is opened
	}{
		{"missing kernel file", []string{"--kernel", filepath.Join(dir, "no-such-vmlinux")},
			regexp.MustCompile(`no-such-vmlinux.*no such file`), false},
		{"kernel is not ELF", []string{"--kernel", notELF},
			regexp.MustCompile(`(?i)not an x86-64 ELF|ELF`), false},
		{"kernel is a directory", []string{"--kernel", dir},
			regexp.MustCompile(`(?i)directory|ELF`), false},
		{"memory 1 MiB", []string{"--kernel", kernel, "--mem", "1"},
			regexp.MustCompile(`(?i)memory|MiB`), false},
		{"memory negative", []string{"--kernel", kernel, "--mem", "-5"},
			regexp.MustCompile(`(?i)memory|MiB`), false},
		{"too many vCPUs", []string{"--kernel", kernel, "--cpus", "1000"},
			regexp.MustCompile(`(?i)vCPU`), false},
		{"command line of 10000 bytes", []string{"--kernel", kernel, "--cmdline", strings.Repeat("a", 10000)},
			regexp.MustCompile(`(?i)command line`), false},
		// no --kernel means the default image; HULL_CACHE (below) is empty
		{"no kernel flag and no default image", nil, regexp.MustCompile(`--kernel.*no default image.*hull image build`), false},
		{"unknown flag", []string{"--kernel", kernel, "--no-such-flag"}, regexp.MustCompile(`no-such-flag`), true},
		{"stray argument", []string{"--kernel", kernel, "extra"}, regexp.MustCompile(`extra`), true},
		{"disk without a path", []string{"--kernel", kernel, "--disk", ",ro"}, regexp.MustCompile(`disk.*path`), true},
		{"disk with an unknown option", []string{"--kernel", kernel, "--disk", "a.img,rox"}, regexp.MustCompile(`disk.*"rox"`), true},
		{"missing disk file", []string{"--kernel", kernel, "--disk", filepath.Join(dir, "no-such.img")},
			regexp.MustCompile(`no-such\.img.*no such file`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hull(t, append([]string{"vm", "boot"}, tc.args...)...)
			wantOneLineError(t, r)
			if tc.usage && r.status != 2 {
				t.Errorf("exit status %d, want 2 (usage)", r.status)
			}
			line := strings.TrimSpace(r.stderr)
			if tc.cause.MatchString(line) {
				return
			}
			if !tc.usage && noKVM.MatchString(line) {
				t.Skipf("hull checks this input only after opening KVM, which this host lacks: %q", line)
			}
			t.Errorf("stderr %q does not match %q", line, tc.cause)
		})
	}
}

func TestVMUsage(t *testing.T) {
	r := hull(t, "vm", "boot", "--help")
	if r.status != 0 || !strings.Contains(r.stdout, "--kernel") {
		t.Errorf("hull vm boot --help: status %d, stdout %q; want 0 and the flags", r.status, r.stdout)
	}
	r = hull(t, "vm", "frobnicate")
	wantOneLineError(t, r)
	if r.status != 2 {
		t.Errorf("hull vm frobnicate: exit status %d, want 2", r.status)
	}
}
