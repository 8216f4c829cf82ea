package blk

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// The file backend: positioned, vectored I/O straight between the disk
// file and guest memory (the slices alias guest RAM), and fallocate for
// DISCARD and WRITE_ZEROES.

// probeBytes is the range a fallocate probe works on, past the end of the
// file, where it cannot change the disk's contents.
const probeBytes = 4096

// probeFallocate reports whether the file system supports fallocate mode
// (with FALLOC_FL_KEEP_SIZE) on fd, trying it on the page past end of file.
// A successful FALLOC_FL_ZERO_RANGE probe preallocates that page; a
// following punch (when supported) releases it again.
func probeFallocate(fd int, size int64, mode uint32) bool {
	off := (size + probeBytes - 1) &^ (probeBytes - 1)
	if err := unix.Fallocate(fd, mode|unix.FALLOC_FL_KEEP_SIZE, off, probeBytes); err != nil {
		return false
	}
	if mode&unix.FALLOC_FL_ZERO_RANGE != 0 {
		_ = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, probeBytes) // best effort
	}
	return true
}

// readFull fills iov from the file at off. Short reads continue; end of
// file before iov is full is an error (the file shrank under the VM).
func readFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		var n int
		var err error
		if len(iov) == 1 {
			n, err = unix.Pread(fd, iov[0], off)
		} else {
			n, err = unix.Preadv(fd, iov, off)
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return io.ErrUnexpectedEOF
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}

// writeFull writes iov to the file at off.
func writeFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		var n int
		var err error
		if len(iov) == 1 {
			n, err = unix.Pwrite(fd, iov[0], off)
		} else {
			n, err = unix.Pwritev(fd, iov, off)
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return errors.New("blk: write made no progress")
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}

// advance drops the first n bytes from iov.
func advance(iov [][]byte, n int) [][]byte {
	for n > 0 && len(iov) > 0 {
		if n < len(iov[0]) {
			iov[0] = iov[0][n:]
			return iov
		}
		n -= len(iov[0])
		iov = iov[1:]
	}
	for len(iov) > 0 && len(iov[0]) == 0 {
		iov = iov[1:]
	}
	return iov
}
