package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// ConsoleFile is the guest's serial console, in the container's state
// directory (written by the VMM process).
const ConsoleFile = "console.log"

// consoleTailLines is how much of the console a failed create logs.
const consoleTailLines = 20

// consoleError adds the console's last line to a failed create's error
// and logs its last lines at level debug: the state directory, console.log
// with it, is removed when create fails, and a guest that never answered
// said why there, if anywhere.
func (v *vmSandbox) consoleError(err error, dir string) error {
	lines := consoleTail(filepath.Join(dir, ConsoleFile), consoleTailLines)
	if len(lines) == 0 {
		return err
	}
	if v.log != nil {
		// debug: without --log the runtime's log is stderr, where the
		// error must stay one line
		v.log.Debug("the failed VM's console (last lines)", "console", strings.Join(lines, "\n"))
	}
	return fmt.Errorf("%w; %s ends: %q", err, ConsoleFile, lines[len(lines)-1])
}

// consoleTail returns up to n last non-empty lines of the console log,
// control characters dropped and each clipped: a guest writes what it
// likes there.
func consoleTail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 16 << 10
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(0, st.Size()-window)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == unicode.ReplacementChar {
				return -1
			}
			return r
		}, l))
		if l == "" {
			continue
		}
		if len(l) > 200 {
			l = l[:200] + "..."
		}
		out = append(out, l)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
