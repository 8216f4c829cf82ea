package container

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs the createContainer or startContainer hooks from the
// init (config.md "POSIX-platform Hooks"): each with its args and env,
// the state JSON on stdin and its timeout, in dir ("" for the init's
// working directory). The first failure stops it; its output is in the
// error, as runc reports it.
func runHooks(kind string, hooks []specs.Hook, state []byte, dir string) error {
	for i, h := range hooks {
		if err := runHook(h, state, dir); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// maxHookOutput bounds the hook output quoted in an error.
const maxHookOutput = 1024

func runHook(h specs.Hook, state []byte, dir string) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d is not positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	// Started from this goroutine's locked thread: the hook is born in
	// this thread's namespaces, root and credentials.
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		b := bytes.TrimSpace(out.Bytes())
		if len(b) > maxHookOutput {
			b = b[len(b)-maxHookOutput:]
		}
		if len(b) > 0 {
			return fmt.Errorf("%w, output: %s", err, b)
		}
		return err
	}
	return nil
}
