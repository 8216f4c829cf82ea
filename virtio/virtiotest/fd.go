package virtiotest

import "golang.org/x/sys/unix"

func writeFD(fd int, b []byte) error {
	_, err := unix.Write(fd, b)
	return err
}
