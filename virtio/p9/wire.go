package p9

import "encoding/binary"

// The device checks every T-message's layout before the server sees it.
// The server (hugelgupf/p9) answers a message it cannot decode with an
// Rlerror tagged NOTAG, which could not be matched to its chain; so a
// message reaches it only when each field its decoder reads is there.
// The layouts below are those of p9 v0.3.0's decoders (messages.go), which
// are those of 9P2000.L; trailing bytes are allowed, as there (Linux's
// Tfsync carries a datasync word the server does not read).

// reader is a bounds-checked little-endian cursor over a message body.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n > len(r.b)-r.off {
		r.bad = true
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// str reads a string (len[2] bytes[len]).
func (r *reader) str() string { return string(r.take(int(r.u16()))) }

// skipStr skips a string without allocating.
func (r *reader) skipStr() { r.take(int(r.u16())) }

// checkRequest reports whether typ is a 9P2000.L request the device
// passes on, and whether body (the message after its 7-byte header) holds
// every field of it. Twrite is checked by the caller (its data is not
// copied).
func checkRequest(typ uint8, body []byte) (known, ok bool) {
	r := &reader{b: body}
	switch typ {
	case P9_TSTATFS, P9_TREADLINK, P9_TFSYNC, P9_TCLUNK, P9_TREMOVE:
		r.u32() // fid
	case P9_TLOPEN:
		r.take(4 + 4) // fid flags
	case P9_TLCREATE:
		r.u32()
		r.skipStr()       // name
		r.take(4 + 4 + 4) // flags mode gid
	case P9_TSYMLINK:
		r.u32()
		r.skipStr() // name
		r.skipStr() // target
		r.u32()     // gid
	case P9_TMKNOD:
		r.u32()
		r.skipStr()
		r.take(4 * 4) // mode major minor gid
	case P9_TRENAME:
		r.take(4 + 4) // fid dfid
		r.skipStr()
	case P9_TGETATTR:
		r.take(4 + 8) // fid request_mask
	case P9_TSETATTR:
		r.take(4 + 4 + 4 + 4 + 4 + 5*8) // fid valid mode uid gid size atime mtime
	case P9_TXATTRWALK:
		r.take(4 + 4)
		r.skipStr()
	case P9_TXATTRCREATE:
		r.u32()
		r.skipStr()
		r.take(8 + 4) // attr_size flags
	case P9_TREADDIR, P9_TREAD:
		r.take(4 + 8 + 4) // fid offset count
	case P9_TLOCK:
		r.take(4 + 1 + 4 + 8 + 8 + 4) // fid type flags start length proc_id
		r.skipStr()                   // client_id
	case P9_TGETLOCK:
		r.take(4 + 1 + 8 + 8 + 4)
		r.skipStr()
	case P9_TLINK:
		r.take(4 + 4) // dfid fid
		r.skipStr()
	case P9_TMKDIR:
		r.u32()
		r.skipStr()
		r.take(4 + 4) // mode gid
	case P9_TRENAMEAT:
		r.u32()
		r.skipStr()
		r.u32()
		r.skipStr()
	case P9_TUNLINKAT:
		r.u32()
		r.skipStr()
		r.u32() // flags
	case P9_TVERSION:
		r.u32() // msize
		r.skipStr()
	case P9_TAUTH:
		r.u32()     // afid
		r.skipStr() // uname
		r.skipStr() // aname
		r.u32()     // n_uname
	case P9_TATTACH:
		r.take(4 + 4) // fid afid
		r.skipStr()
		r.skipStr()
		r.u32()
	case P9_TFLUSH:
		r.u16() // oldtag
	case P9_TWALK:
		r.take(4 + 4)
		n := r.u16()
		if n > P9_MAXWELEM {
			return true, false
		}
		for range n {
			r.skipStr()
		}
	default:
		return false, false
	}
	return true, !r.bad
}

// putHeader writes a message header into b[0:7].
func putHeader(b []byte, size uint32, typ uint8, tag uint16) {
	binary.LittleEndian.PutUint32(b[0:], size)
	b[4] = typ
	binary.LittleEndian.PutUint16(b[5:], tag)
}
