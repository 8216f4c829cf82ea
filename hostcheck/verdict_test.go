package hostcheck

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	const (
		kernelEmulatedText = "guest kernel code is emulated"
		syscallText        = "SYSCALL from guest user mode does not work: Linux guests cannot run 64-bit user space here"
		nestedText         = "nested KVM runner"
	)
	for _, c := range []struct {
		name   string
		f      facts
		want   Verdict
		code   int
		has    []string
		hasNot []string
	}{
		{"no kvm", facts{kvmErr: "open /dev/kvm: no such file or directory"}, NoKVM, 1,
			[]string{"no KVM", "no such file", nestedText}, nil},
		{"missing cap", facts{brokenWhy: []string{"missing KVM_CAP_IRQFD"}}, Broken, 1,
			[]string{"broken KVM", "KVM_CAP_IRQFD"}, nil},
		{"probe error", facts{brokenWhy: []string{"CPL0/CPL3 probe: KVM_RUN: bad address"}, probesRun: false}, Broken, 1,
			[]string{"bad address"}, nil},
		{"healthy native", facts{probesRun: true, cpl0NS: 0.4, cpl3NS: 0.38, syscallOK: true}, Healthy, 0,
			[]string{"healthy", "SYSCALL from guest user mode works"}, []string{kernelEmulatedText}},
		{"healthy nested TCG", facts{probesRun: true, cpl0NS: 3.1, cpl3NS: 2.9, syscallOK: true}, Healthy, 0, nil, nil},
		{"cpl0 emulated", facts{probesRun: true, cpl0NS: 1900, cpl3NS: 0.5, syscallOK: true}, Emulated, 2,
			[]string{kernelEmulatedText, "1.90 µs", nestedText}, []string{syscallText}},
		{"syscall broken", facts{probesRun: true, cpl0NS: 0.5, cpl3NS: 0.5, syscallOK: false}, Emulated, 2,
			[]string{syscallText}, []string{kernelEmulatedText}},
		{"pvm host", facts{probesRun: true, cpl0NS: 2000, cpl3NS: 0.4, syscallOK: false}, Emulated, 2,
			[]string{kernelEmulatedText, syscallText, nestedText}, nil},
		{"cpl3 noise near zero", facts{probesRun: true, cpl0NS: 0.5, cpl3NS: 0.001, syscallOK: true}, Healthy, 0, nil, nil},
		{"ratio high but tiny absolute", facts{probesRun: true, cpl0NS: 8, cpl3NS: 0.3, syscallOK: true}, Healthy, 0, nil, nil},
		{"ratio just over", facts{probesRun: true, cpl0NS: 25, cpl3NS: 1, syscallOK: true}, Emulated, 2, []string{kernelEmulatedText}, nil},
		{"ratio just under", facts{probesRun: true, cpl0NS: 19, cpl3NS: 1, syscallOK: true}, Healthy, 0, nil, nil},
		{"probes skipped", facts{}, Healthy, 0, []string{"probes skipped"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f.kvmPath = "/dev/kvm"
			v, line := decide(c.f)
			if v != c.want || v.ExitCode() != c.code {
				t.Errorf("decide = %v (exit %d), want %v (exit %d); line %q", v, v.ExitCode(), c.want, c.code, line)
			}
			for _, s := range c.has {
				if !strings.Contains(line, s) {
					t.Errorf("line %q lacks %q", line, s)
				}
			}
			for _, s := range c.hasNot {
				if strings.Contains(line, s) {
					t.Errorf("line %q has %q", line, s)
				}
			}
			if strings.Contains(line, "\n") {
				t.Errorf("verdict line has a newline: %q", line)
			}
		})
	}
}

func TestVerdictStrings(t *testing.T) {
	for v, want := range map[Verdict]string{Healthy: "healthy", Emulated: "emulated", NoKVM: "no-kvm", Broken: "broken", Verdict(9): "verdict(9)"} {
		if v.String() != want {
			t.Errorf("%d.String() = %q", int(v), v.String())
		}
	}
}

func TestFmtNS(t *testing.T) {
	for ns, want := range map[float64]string{0.384: "0.38 ns", 42: "42 ns", 1900: "1.90 µs", 2.5e6: "2.5 ms"} {
		if got := fmtNS(ns); got != want {
			t.Errorf("fmtNS(%v) = %q, want %q", ns, got, want)
		}
	}
}
