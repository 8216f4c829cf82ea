package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNetnsPath(t *testing.T) {
	ns := func(list ...specs.LinuxNamespace) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Namespaces: list}}
	}
	for _, c := range []struct {
		name string
		spec *specs.Spec
		want string
	}{
		{"no spec", nil, ""},
		{"no linux", &specs.Spec{}, ""},
		{"no network entry", ns(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/1/ns/pid"}), ""},
		{"a new network namespace", ns(specs.LinuxNamespace{Type: specs.NetworkNamespace}), ""},
		{"CNI's", ns(specs.LinuxNamespace{Type: specs.PIDNamespace},
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/var/run/netns/cni-1"}), "/var/run/netns/cni-1"},
	} {
		if got := NetnsPath(c.spec); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
