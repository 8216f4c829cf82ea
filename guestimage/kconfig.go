package guestimage

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// CheckKernelConfig returns one line for every line of a kconfig fragment
// that the final .config does not honour, nil if it honours them all:
// "CONFIG_X=v" must appear as such, and "# CONFIG_X is not set" means
// CONFIG_X must not be set to anything. Kconfig drops an option whose
// dependencies are off without an error (merge_config.sh only prints a
// note), so this is the check that the kernel has what the fragment asks.
func CheckKernelConfig(fragment, config []byte) []string {
	final := parseKconfig(config)
	var problems []string
	for _, l := range fragmentLines(fragment) {
		got, set := final[l.sym]
		switch {
		case l.off && set:
			problems = append(problems, fmt.Sprintf("%s: the fragment turns it off, the .config has %s=%s", l.sym, l.sym, got))
		case !l.off && !set:
			problems = append(problems, fmt.Sprintf("%s=%s: not set in the .config (a dependency off?)", l.sym, l.val))
		case !l.off && got != l.val:
			problems = append(problems, fmt.Sprintf("%s=%s: the .config has %s=%s", l.sym, l.val, l.sym, got))
		}
	}
	return problems
}

// kconfigLine is one setting of a fragment.
type kconfigLine struct {
	sym, val string
	off      bool // "# CONFIG_X is not set"
}

// fragmentLines returns the settings of a fragment in order; comments and
// blank lines are skipped.
func fragmentLines(fragment []byte) []kconfigLine {
	var lines []kconfigLine
	sc := bufio.NewScanner(bytes.NewReader(fragment))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if sym, ok := notSet(line); ok {
			lines = append(lines, kconfigLine{sym: sym, off: true})
			continue
		}
		if sym, val, ok := strings.Cut(line, "="); ok && strings.HasPrefix(sym, "CONFIG_") {
			lines = append(lines, kconfigLine{sym: sym, val: val})
		}
	}
	return lines
}

// parseKconfig maps each symbol set in a .config to its value; symbols
// that are "not set" are absent.
func parseKconfig(config []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(config))
	for sc.Scan() {
		if sym, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && strings.HasPrefix(sym, "CONFIG_") {
			m[sym] = val
		}
	}
	return m
}

func notSet(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "# CONFIG_")
	if !ok {
		return "", false
	}
	sym, ok := strings.CutSuffix(rest, " is not set")
	if !ok || strings.ContainsAny(sym, " =") {
		return "", false
	}
	return "CONFIG_" + sym, true
}
