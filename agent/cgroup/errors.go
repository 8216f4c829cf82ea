package cgroup

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoCgroup2: the cgroup root is not a cgroup v2 mount (a v1 or
	// hybrid host). It wraps errors.ErrUnsupported.
	ErrNoCgroup2 = fmt.Errorf("cgroup v2 unified hierarchy required: %w", errors.ErrUnsupported)

	// ErrEmptyPath: New or Open got an empty path; pass DefaultPath(id).
	ErrEmptyPath = errors.New("cgroup: empty cgroup path (use cgroup.DefaultPath)")

	// ErrInvalidPath: the path names the hierarchy's root, or is a
	// malformed systemd "slice:prefix:name".
	ErrInvalidPath = errors.New("cgroup: invalid cgroup path")

	// ErrControllerUnavailable: a resource needs a controller the cgroup
	// does not have (ControllerError says which and why).
	ErrControllerUnavailable = errors.New("cgroup controller not available")

	// ErrInternalProcesses: cgroup v2's "no internal processes" rule. A
	// cgroup other than the root that holds processes cannot enable
	// controllers for its children, and a cgroup that enables them cannot
	// take processes.
	ErrInternalProcesses = errors.New("cgroup v2 \"no internal processes\" rule")

	// ErrTimeout: freezing, thawing or killing did not finish in time.
	ErrTimeout = errors.New("cgroup: timed out")
)

// ControllerError: a resource could not be set because its controller is
// not enabled in the container's cgroup. errors.Is matches
// ErrControllerUnavailable, and Reason (ErrInternalProcesses when that rule
// kept the controller from being enabled).
type ControllerError struct {
	Controller string // "memory", "pids", ...
	Cgroup     string // the cgroup's path in the hierarchy
	File       string // the interface file that was missing
	Reason     error
}

func (e *ControllerError) Error() string {
	return fmt.Sprintf("cgroup %s: cannot set %s: %s controller not available: %v", e.Cgroup, e.File, e.Controller, e.Reason)
}

func (e *ControllerError) Is(target error) bool { return target == ErrControllerUnavailable }

func (e *ControllerError) Unwrap() error { return e.Reason }

// InternalProcessesError: enabling a controller in Cgroup's
// cgroup.subtree_control failed because Cgroup holds processes itself.
// errors.Is matches ErrInternalProcesses.
type InternalProcessesError struct {
	Cgroup      string // the parent cgroup holding processes
	Controllers []string
	Pids        []int
}

func (e *InternalProcessesError) Error() string {
	pids := fmt.Sprint(e.Pids)
	if len(e.Pids) > 8 {
		pids = fmt.Sprintf("%v and %d more", e.Pids[:8], len(e.Pids)-8)
	}
	return fmt.Sprintf("cgroup %s holds processes of its own (pids %s), so it cannot enable %s for its child cgroups (cgroup v2 \"no internal processes\" rule): move them into a leaf cgroup, or put the container under another parent",
		e.Cgroup, pids, strings.Join(e.Controllers, ", "))
}

func (e *InternalProcessesError) Is(target error) bool { return target == ErrInternalProcesses }
