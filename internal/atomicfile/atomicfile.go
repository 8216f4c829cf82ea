// Package atomicfile writes a file so that readers see either the old
// content or the whole new one, never a torn file:
//
//	err := atomicfile.Write("/run/hull/x.json", func(w io.Writer) error {
//		_, err := w.Write(data)
//		return err
//	})
//
// The content goes to a temporary file in the same directory, which is
// renamed over path only when fill and every write succeeded; otherwise the
// temporary file is removed and path is untouched.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path (mode 0644) with what fill writes.
func Write(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name()) // best effort; err is what matters
	}
	return err
}
