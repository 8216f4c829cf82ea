package agent

import (
	"fmt"
	"strings"
)

// Kernel command-line parameters the agent reads. They have a dot in their
// name, so the kernel neither complains about them nor passes them to init
// as arguments or environment: the agent reads /proc/cmdline.
const (
	// ParamHostname sets the guest's hostname (default DefaultHostname).
	ParamHostname = "hull.hostname"
	// ParamExit says when the agent powers the VM off by itself: "ready"
	// right after printing ReadyLine (make run and the boot tests use it).
	ParamExit = "hull.agent.exit"
	// ParamShell, set to 1 (or given without a value), runs a debug shell
	// on the serial console after ReadyLine; the VM powers off when it exits.
	ParamShell = "hull.agent.shell"
)

// DefaultHostname is the hostname when the command line sets none.
const DefaultHostname = "hull"

// VsockPort is the vsock port the agent listens on.
const VsockPort = 1024

// ReadyLine starts the line the agent prints on the console when the guest
// is up; tests and `make run` wait for it.
const ReadyLine = "hull-agent ready"

// ExitWhen says when the agent powers the VM off without being asked.
type ExitWhen string

const (
	// ExitNever: serve until a poweroff request or signal (the default).
	ExitNever ExitWhen = ""
	// ExitReady: power off right after ReadyLine.
	ExitReady ExitWhen = "ready"
)

// Config is what the kernel command line tells the agent.
type Config struct {
	Hostname string
	Exit     ExitWhen
	Shell    bool
}

// maxHostname is the kernel's HOST_NAME_MAX.
const maxHostname = 64

// ParseCmdline reads the agent's parameters from a kernel command line (the
// contents of /proc/cmdline). Unknown parameters are ignored; a bad value of
// a known one is reported in problems (one sentence each) and the default
// kept. A parameter given twice takes its last value, as in the kernel.
func ParseCmdline(cmdline string) (cfg Config, problems []string) {
	cfg = Config{Hostname: DefaultHostname}
	for _, arg := range splitCmdline(cmdline) {
		if arg == "--" {
			break // the rest are init's arguments, not kernel parameters
		}
		key, val, hasVal := strings.Cut(arg, "=")
		switch key {
		case ParamHostname:
			if err := checkHostname(val); err != nil {
				problems = append(problems, fmt.Sprintf("%s=%q: %v; keeping %q", key, val, err, cfg.Hostname))
				continue
			}
			cfg.Hostname = val
		case ParamExit:
			switch w := ExitWhen(val); w {
			case ExitReady, ExitNever:
				cfg.Exit = w
			default:
				problems = append(problems, fmt.Sprintf("%s=%q: unknown value (known: %q)", key, val, ExitReady))
			}
		case ParamShell:
			switch {
			case !hasVal || val == "1":
				cfg.Shell = true
			case val == "0":
				cfg.Shell = false
			default:
				problems = append(problems, fmt.Sprintf("%s=%q: want 1 or 0", key, val))
			}
		}
	}
	if cfg.Exit == ExitReady && cfg.Shell {
		problems = append(problems, fmt.Sprintf("%s=1 is ignored: %s=%s powers off first", ParamShell, ParamExit, ExitReady))
		cfg.Shell = false
	}
	return cfg, problems
}

// splitCmdline splits a command line the way the kernel's next_arg does:
// at spaces, except inside double quotes, which are removed.
func splitCmdline(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inArg := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, inArg = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// checkHostname accepts an RFC 1123 host name: labels of letters, digits
// and hyphens, separated by dots, at most 64 bytes in all.
func checkHostname(name string) error {
	if name == "" || len(name) > maxHostname {
		return fmt.Errorf("a hostname has 1 to %d characters", maxHostname)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("empty label or a label that starts or ends with '-'")
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("character %q is not allowed (letters, digits, '-', '.')", c)
			}
		}
	}
	return nil
}
