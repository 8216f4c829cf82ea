// Package hooks runs OCI lifecycle hooks (runtime-spec config.md,
// "POSIX-platform Hooks"): each hook's program with its args and env, the
// container's state JSON on stdin, and its timeout. The runtime runs the
// host's hooks (prestart, createRuntime, poststart, poststop) with it; the
// container's init runs createContainer and startContainer.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Run runs hooks in order, each with state on its stdin, and stops at the
// first failure (a failing prestart, createRuntime, createContainer or
// startContainer hook fails the operation). The error names the hook and
// ends with its output, as runc reports it.
func Run(kind string, hooks []specs.Hook, state []byte) error {
	return RunIn("", kind, hooks, state)
}

// RunIn is Run with the hooks' working directory dir ("" for the caller's).
// A hook is started from the calling goroutine's thread: from a locked
// thread it is born in that thread's namespaces, root and credentials.
func RunIn(dir, kind string, hooks []specs.Hook, state []byte) error {
	for i, h := range hooks {
		if err := runHook(h, state, dir); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// RunAll runs every hook, even after a failure, and returns the failures
// joined: poststart and poststop hooks, whose failures are only warnings
// (runtime-spec) and must not keep the later hooks from running.
func RunAll(kind string, hooks []specs.Hook, state []byte) error {
	var errs []error
	for i, h := range hooks {
		if err := runHook(h, state, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err))
		}
	}
	return errors.Join(errs...)
}

// maxOutput bounds the hook output quoted in an error.
const maxOutput = 1024

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
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = dir
	// A hook that times out goes with its whole process group, and Run
	// does not wait for children that kept its output open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		b := bytes.TrimSpace(out.Bytes())
		if len(b) > maxOutput {
			b = b[len(b)-maxOutput:]
		}
		if len(b) > 0 {
			return fmt.Errorf("%w, output: %s", err, b)
		}
		return err
	}
	return nil
}
