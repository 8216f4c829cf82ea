package agent

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		cmdline  string
		want     Config
		problems []string // substrings, one per problem
	}{
		{"", Config{Hostname: "hull"}, nil},
		{"console=ttyS0 reboot=k panic=-1 quiet", Config{Hostname: "hull"}, nil},
		{"console=ttyS0 hull.hostname=web-1.example hull.agent.exit=ready\n",
			Config{Hostname: "web-1.example", Exit: ExitReady}, nil},
		{"hull.agent.shell", Config{Hostname: "hull", Shell: true}, nil},
		{"hull.agent.shell=1 hull.agent.shell=0", Config{Hostname: "hull"}, nil},
		{"hull.hostname=a hull.hostname=b", Config{Hostname: "b"}, nil},
		{`hull.hostname="quoted" x="a b" hull.agent.exit=`, Config{Hostname: "quoted"}, nil},
		// after "--" come init's arguments, not parameters
		{"quiet -- hull.hostname=late", Config{Hostname: "hull"}, nil},
		// a quoted space does not split
		{`x="hull.hostname=in quotes"`, Config{Hostname: "hull"}, nil},
		// prefixes and look-alikes are not ours
		{"hull.hostnamex=a xhull.hostname=b hull.agent.exitx=ready", Config{Hostname: "hull"}, nil},
		{"hull.hostname=bad_name", Config{Hostname: "hull"}, []string{`hull.hostname="bad_name": character '_'`}},
		{"hull.hostname=", Config{Hostname: "hull"}, []string{"1 to 64 characters"}},
		{"hull.hostname=" + strings.Repeat("a", 65), Config{Hostname: "hull"}, []string{"1 to 64 characters"}},
		{"hull.hostname=-a", Config{Hostname: "hull"}, []string{"starts or ends with '-'"}},
		{"hull.hostname=a..b", Config{Hostname: "hull"}, []string{"empty label"}},
		{"hull.agent.exit=later", Config{Hostname: "hull"}, []string{`hull.agent.exit="later": unknown value`}},
		{"hull.agent.shell=yes", Config{Hostname: "hull"}, []string{`hull.agent.shell="yes": want 1 or 0`}},
		{"hull.agent.shell=1 hull.agent.exit=ready", Config{Hostname: "hull", Exit: ExitReady},
			[]string{"hull.agent.shell=1 is ignored"}},
	} {
		got, problems := ParseCmdline(tc.cmdline)
		if got != tc.want {
			t.Errorf("ParseCmdline(%q) = %+v, want %+v", tc.cmdline, got, tc.want)
		}
		if len(problems) != len(tc.problems) {
			t.Errorf("ParseCmdline(%q): problems %q, want %d", tc.cmdline, problems, len(tc.problems))
			continue
		}
		for i, p := range problems {
			if !strings.Contains(p, tc.problems[i]) {
				t.Errorf("ParseCmdline(%q): problem %q, want it to contain %q", tc.cmdline, p, tc.problems[i])
			}
		}
	}
}

func TestSplitCmdline(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		"  a  b\tc\n":            {"a", "b", "c"},
		`a="b c" d`:              {"a=b c", "d"},
		`"a b"`:                  {"a b"},
		`a=""`:                   {"a="},
		`unterminated="x y`:      {"unterminated=x y"},
		`dyndbg="file x.c +p" q`: {"dyndbg=file x.c +p", "q"},
	} {
		if got := splitCmdline(in); !slices.Equal(got, want) {
			t.Errorf("splitCmdline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBaseMounts(t *testing.T) {
	var targets []string
	for _, m := range BaseMounts() {
		targets = append(targets, m.Target)
		if m.Required != (m.Target == "/proc" || m.Target == "/sys" || m.Target == "/dev") {
			t.Errorf("%s: Required %v", m.Target, m.Required)
		}
	}
	if want := []string{"/proc", "/sys", "/dev", "/dev/pts", "/tmp"}; !slices.Equal(targets, want) {
		t.Errorf("targets %q, want %q (a parent before its children)", targets, want)
	}
}
