package runtime

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// LogOptions are runc's global logging flags: --log FILE, --log-format
// text|json, --debug. The CLI's logger is built from them, and the vm
// sandbox's host process gets them too, so that what it logs after
// create (the container's exit, the VM's stop) lands in the same file.
type LogOptions struct {
	File   string // "" logs to stderr
	Format string // "json", else text
	Debug  bool
}

// Logger returns a logger writing to File (appending; stderr when empty
// or when it cannot be opened) in Format, at level debug with Debug, else
// warning. Levels are named as runc names them.
func (o LogOptions) Logger() *slog.Logger {
	var w io.Writer = os.Stderr
	if o.File != "" {
		if f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
			w = f
		}
	}
	return o.logger(w)
}

func (o LogOptions) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if o.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: RuncLevel}
	if o.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// args are the flags that hand these options to the vm sandbox's host
// process (vmsandbox.Main), the file made absolute (that process runs in
// /). None without a file: that process's stderr is the container's.
func (o LogOptions) args() []string {
	if o.File == "" {
		return nil
	}
	f, err := filepath.Abs(o.File)
	if err != nil {
		return nil
	}
	a := []string{"--log", f, "--log-format", o.Format}
	if o.Debug {
		a = append(a, "--debug")
	}
	return a
}

// RuncLevel names levels as runc (logrus) does: error, warning, info,
// debug. containerd's runc shim shows its user the last line of --log
// whose level is exactly "error", and ignores slog's "ERROR".
func RuncLevel(groups []string, a slog.Attr) slog.Attr {
	if l, ok := a.Value.Any().(slog.Level); ok && a.Key == slog.LevelKey && len(groups) == 0 {
		name := strings.ToLower(l.String())
		if l == slog.LevelWarn {
			name = "warning"
		}
		a.Value = slog.StringValue(name)
	}
	return a
}
