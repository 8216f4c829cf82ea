package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullvm/hull/runtime"
)

func specCmd(args []string) int {
	fs := ociFlags("spec", "[--bundle DIR] [--rootless]", "Writes a default config.json (runc's defaults: sh in ./rootfs, the usual namespaces, mounts and capabilities).")
	bundle := fs.String("bundle", ".", "where to write config.json")
	fs.StringVar(bundle, "b", ".", "short for --bundle")
	rootless := fs.Bool("rootless", false, "a config for an unprivileged user (user namespace mapping the caller)")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	if fs.NArg() > 0 {
		return ociFail("spec", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	p := filepath.Join(*bundle, "config.json")
	if _, err := os.Stat(p); err == nil {
		return ociFail("spec", fmt.Errorf("%s already exists: remove it first", p))
	} else if !errors.Is(err, os.ErrNotExist) {
		return ociFail("spec", err)
	}
	s := runtime.DefaultSpec(*rootless, os.Getuid(), os.Getgid())
	b, _ := json.MarshalIndent(s, "", "\t")
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return ociFail("spec", err)
	}
	return 0
}

func featuresCmd(args []string) int {
	fs := ociFlags("features", "", "Prints what this runtime supports, in the runtime-spec features format.")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	b, _ := json.MarshalIndent(runtime.Features(), "", "    ")
	fmt.Println(string(b))
	return 0
}

func eventsCmd(args []string) int {
	fs := ociFlags("events", "[--stats] [--interval D] <container-id>", "Prints the container's events as JSON lines; --stats prints one stats event and exits.")
	stats := fs.Bool("stats", false, "print the container's stats once and exit")
	interval := fs.Duration("interval", 5*time.Second, "how often to print stats")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	id, err := oneID(fs)
	if err != nil {
		return ociFail("events", err)
	}
	if *interval <= 0 {
		return ociFail("events", fmt.Errorf("--interval must be positive"))
	}
	rt := newRuntime()
	enc := json.NewEncoder(os.Stdout)
	for {
		rec, err := rt.State(id)
		if err != nil {
			return ociFail("events", err)
		}
		if rec.Status == specs.StateStopped {
			if *stats {
				return ociFail("events", fmt.Errorf("container %s is stopped", id))
			}
			return 0
		}
		ev := map[string]any{"type": "stats", "id": id, "data": map[string]any{}}
		if pids, err := rt.Ps(id); err == nil {
			ev["data"] = map[string]any{"pids": map[string]any{"current": len(pids)}}
		}
		if err := enc.Encode(ev); err != nil {
			return exitError
		}
		if *stats {
			return 0
		}
		time.Sleep(*interval)
	}
}
