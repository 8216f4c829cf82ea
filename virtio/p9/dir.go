package p9

import (
	"encoding/binary"

	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// Directory reading: the offsets the guest gets back are the host's own
// directory cookies (linux_dirent64.d_off), which a seek on the opened
// directory resumes from, so nothing is cached between calls and a
// directory of any size costs one host buffer per Treaddir.

// direntFixed is the 9P size of a dirent without its name:
// qid[13] offset[8] type[1] name_len[2].
const direntFixed = 13 + 8 + 1 + 2

// Layout of struct linux_dirent64: d_ino[8] d_off[8] d_reclen[2] d_type[1]
// d_name[], NUL-terminated, padded to 8 bytes.
const (
	d64Ino    = 0
	d64Off    = 8
	d64Reclen = 16
	d64Type   = 18
	d64Name   = 19
)

// maxDirBuf bounds the host buffer of one Readdir.
const maxDirBuf = 64 << 10

// Readdir implements lib9p.File: entries from offset on, as many as fit in
// count bytes of Rreaddir. The type is the host's d_type (DT_DIR, ...):
// Linux's v9fs hands it to getdents as it is.
func (f *file) Readdir(offset uint64, count uint32) (lib9p.Dirents, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open < 0 {
		return nil, linux.EBADF
	}
	if offset > 1<<63-1 {
		return nil, linux.EINVAL
	}
	st, err := fstat(f.open)
	if err != nil {
		return nil, errno(err)
	}
	if _, err := unix.Seek(f.open, int64(offset), 0); err != nil {
		return nil, errno(err)
	}
	buf := make([]byte, min(max(int(count), 1024), maxDirBuf))
	var n int
	err = retry(func() (err error) {
		n, err = unix.Getdents(f.open, buf)
		return err
	})
	if err != nil {
		return nil, errno(err)
	}
	var out lib9p.Dirents
	used := 0
	for b := buf[:n]; len(b) >= d64Name; {
		reclen := int(binary.LittleEndian.Uint16(b[d64Reclen:]))
		if reclen < d64Name || reclen > len(b) {
			return nil, linux.EIO // the kernel's own buffer; cannot happen
		}
		name := cstring(b[d64Name:reclen])
		ino := binary.LittleEndian.Uint64(b[d64Ino:])
		d := lib9p.Dirent{
			Offset: binary.LittleEndian.Uint64(b[d64Off:]),
			Type:   lib9p.QIDType(b[d64Type]),
			Name:   name,
		}
		b = b[reclen:]
		if used+direntFixed+len(name) > int(count) {
			break
		}
		used += direntFixed + len(name)
		if f.root && name == ".." {
			ino = f.fs.rootIno // the host above the share stays hidden
		}
		d.QID = lib9p.QID{Type: dtToQID(d.Type), Path: f.fs.qidPath(st.Dev, ino)}
		out = append(out, d)
	}
	return out, nil
}

// dtToQID maps a DT_* type to the QID type.
func dtToQID(t lib9p.QIDType) lib9p.QIDType {
	switch t {
	case unix.DT_DIR:
		return lib9p.TypeDir
	case unix.DT_LNK:
		return lib9p.TypeSymlink
	}
	return lib9p.TypeRegular
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
