package vmsandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/vmm"
)

// Stale templates. A template's key (templateKey) is made of the image
// files and the hull binary as they were; once one of them changes, no
// create asks for that key again and the template would sit under
// <root>/.templates for good (a snapshot's memory file is the VM's size).
// Each template records its inputs in <key>/inputs.json; after making a
// new template, a create removes every other template whose inputs are
// gone or changed, or that has no record (made by an older hull). One
// that another create holds the lock of is left alone.

// inputsFile is a template's record of its key's files.
const inputsFile = "inputs.json"

// keyInput is one file of a template's key.
type keyInput struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"modTimeNs"`
}

// keyInputs are the files templateKey hashes: the image and this binary
// (Size -1 where one cannot be stat'ed).
func keyInputs(cfg *vmm.Config) []keyInput {
	self, _ := os.Executable()
	var in []keyInput
	for _, p := range []string{cfg.Kernel, cfg.Initrd, self} {
		k := keyInput{Path: p, Size: -1}
		if st, err := os.Stat(p); err == nil {
			k.Size, k.ModTime = st.Size(), st.ModTime().UnixNano()
		}
		in = append(in, k)
	}
	return in
}

// writeInputs records cfg's key inputs in the template directory tdir.
func writeInputs(tdir string, cfg *vmm.Config) error {
	b, err := json.Marshal(keyInputs(cfg))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tdir, inputsFile), b, 0o600)
}

// stale says whether the template in tdir was made from files that are
// gone or changed since, or has no record of them.
func stale(tdir string) bool {
	b, err := os.ReadFile(filepath.Join(tdir, inputsFile))
	if err != nil {
		return true
	}
	var in []keyInput
	if json.Unmarshal(b, &in) != nil || len(in) == 0 {
		return true
	}
	for _, k := range in {
		st, err := os.Stat(k.Path)
		if err != nil || k.Size < 0 || st.Size() != k.Size || st.ModTime().UnixNano() != k.ModTime {
			return true
		}
	}
	return false
}

// pruneTemplates removes the stale templates under dir other than keep
// (a key), each under its lock taken without waiting, and returns their
// keys.
func pruneTemplates(dir, keep string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || e.Name() == keep {
			continue
		}
		tdir := filepath.Join(dir, e.Name())
		lock, err := os.OpenFile(tdir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			lock.Close() // being made or checked by another create
			continue
		}
		if stale(tdir) {
			if err := os.RemoveAll(tdir); err != nil {
				errs = append(errs, fmt.Errorf("removing the stale template %s: %w", tdir, err))
			} else {
				os.Remove(tdir + ".lock")
				removed = append(removed, e.Name())
			}
		}
		lock.Close()
	}
	return removed, errors.Join(errs...)
}
