package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/agent/proto"
	"github.com/hullvm/hull/internal/atomicfile"
)

// The state directory (--root, default DefaultRoot) holds one directory
// per container:
//
//	<root>/<id>/state.json   the Record, replaced atomically
//	<root>/<id>/lock         flock'ed by every command that changes the container
//	<root>/<id>/agent.sock   the agent's control socket (process sandbox)
//
// A container exists exactly while its directory holds a state.json:
// create makes the directory with mkdir (so two creates of one id cannot
// both succeed) and writes state.json last; delete removes the directory.

// DefaultRoot is runc's default with our name.
const DefaultRoot = "/run/hull"

const (
	stateFile = "state.json"
	lockFile  = "lock"
	sockFile  = "agent.sock"
)

// Record is what hull keeps about a container: the runtime-spec state plus
// what it needs to find and check the sandbox later.
type Record struct {
	specs.State
	Created time.Time `json:"created"`
	// Sandbox is "process" or "vm".
	Sandbox string `json:"sandbox"`
	// PidStart is the pid's start time (/proc/<pid>/stat field 22): a
	// recycled pid has another, so a dead sandbox is never mistaken for
	// a live one.
	PidStart uint64 `json:"pidStart,omitempty"`
	// ContainerPid is the container's process as the agent sees it (the
	// host pid in the process sandbox, a guest pid in a VM).
	ContainerPid int `json:"containerPid,omitempty"`
	// Creator is the pid of the `hull create` that is making the container
	// while Status is "creating": if it died half-way, the container
	// counts as stopped so that delete can clean up.
	Creator      int    `json:"creator,omitempty"`
	CreatorStart uint64 `json:"creatorStart,omitempty"`
}

// Errors with runc's meaning; the CLI prints them and exits 1.
var (
	ErrNotExist = errors.New("container does not exist")
	ErrExist    = errors.New("container with this id already exists")
	ErrState    = errors.New("container is in the wrong state for this")
)

type store struct{ root string }

func (s store) dir(id string) string { return filepath.Join(s.root, id) }

// checkID applies runc's id rule before an id becomes a path.
func checkID(id string) error {
	if err := proto.ValidID(id); err != nil {
		return fmt.Errorf("invalid container id: %v", err)
	}
	return nil
}

// lock takes an exclusive flock on the container's lock file; unlock
// with the returned function.
func (s store) lock(id string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir(id), lockFile), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
		}
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking container %s: %w", id, err)
	}
	return func() { f.Close() }, nil
}

// make creates the container's directory; ErrExist when the id is taken.
func (s store) make(id string) error {
	if err := os.MkdirAll(s.root, 0o711); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	if err := os.Mkdir(s.dir(id), 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExist, id)
		}
		return fmt.Errorf("creating the container's state directory: %w", err)
	}
	return nil
}

func (s store) save(r *Record) error {
	return atomicfile.Write(filepath.Join(s.dir(r.ID), stateFile), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(r)
	})
}

// load reads a container's record; ErrNotExist when there is none.
func (s store) load(id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(id), stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("container %s: corrupt state file: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("container %s: state file names %q", id, r.ID)
	}
	return &r, nil
}

// ids lists the containers with a state file, sorted.
func (s store) ids() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.root, e.Name(), stateFile)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func (s store) remove(id string) error {
	return os.RemoveAll(s.dir(id))
}

// writePidFile writes the bare pid, no newline, atomically (runc's format;
// runtime-tools and containerd read it back).
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(abs, func(w io.Writer) error {
		_, err := io.WriteString(w, strconv.Itoa(pid))
		return err
	})
}

// pidStart returns the start time of pid (clock ticks since boot), or an
// error when there is no such process.
func pidStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm may hold spaces and parentheses: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); start time is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether the record's sandbox process still runs.
func (r *Record) alive() bool {
	if r.Pid <= 0 {
		return false
	}
	st, err := pidStart(r.Pid)
	return err == nil && (r.PidStart == 0 || st == r.PidStart)
}

// current is the record with Status corrected: stopped once the sandbox
// process is gone.
func (r *Record) current() *Record {
	c := *r
	switch {
	case c.Status == specs.StateCreating:
		if st, err := pidStart(c.Creator); err != nil || st != c.CreatorStart {
			c.Status = specs.StateStopped
		}
	case !c.alive():
		c.Status = specs.StateStopped
	}
	return &c
}
