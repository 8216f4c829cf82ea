package p9

import (
	"encoding/binary"
	"strings"

	"github.com/hugelgupf/p9/linux"

	"github.com/hullvm/hull/virtio"
)

// A request (virtio-9p) is one chain: the T-message in the readable part
// (Linux puts Twrite's data in further descriptors after its header: the
// message is the concatenation), room for the R-message in the writable
// part (Linux: msize bytes, or Rread's header then the pages the data
// goes to). Nothing is assumed about how the driver splits either.
//
// The device answers these itself, without the server:
//   - chains with fewer than 7 readable or 11 writable bytes: returned with
//     length 0 (no room for an answer);
//   - a size field below 7 or beyond the readable bytes, a message whose
//     fields are not all there, more than P9_MAXWELEM names in a Twalk, a
//     Tversion asking for less than MinMessageSize: Rlerror EINVAL; a type
//     that is not a 9P2000.L request: Rlerror ENOSYS; a message larger than
//     msize: Rlerror EMSGSIZE;
//   - Txattrwalk and Txattrcreate: Rlerror EOPNOTSUPP (extended attributes
//     are not supported, and the guest kernel takes EOPNOTSUPP as "none");
//   - Tgetlock: Rgetlock "unlocked" (one guest, whose kernel keeps its own
//     locks); a Tflush of a tag not in flight: Rflush.
//
// And changes these on the way: a Tversion asks for at most the device's
// maximum msize and for exactly "9P2000.L" when it asks for a 9P2000.L
// dialect (the p9 server's Google extensions stay off); a Tread or
// Treaddir asks for no more than fits in msize and in the chain; a Tflush
// names the device's tag of the request it flushes.

// Errnos the device answers with.
const (
	einval     = uint32(linux.EINVAL)
	enosys     = uint32(linux.ENOSYS)
	emsgsize   = uint32(linux.EMSGSIZE)
	eopnotsupp = uint32(linux.EOPNOTSUPP)
	eagain     = uint32(linux.EAGAIN)
)

// testHookFlush, when set (by tests), runs before a Tflush is forwarded.
var testHookFlush func()

// request serves one chain. Guest mistakes are answered; the error is
// host-side.
func (s *session) request(c *virtio.Chain) error {
	var hdr [hdrSize]byte
	if c.ReadLen < hdrSize || c.WriteLen < rlerrorSize || virtio.ReadFrom(s.mem, c.Readable(), 0, hdr[:]) != nil {
		s.d.Stats.Malformed.Add(1)
		s.push(c.Head, 0)
		return nil
	}
	size := binary.LittleEndian.Uint32(hdr[0:])
	typ := hdr[4]
	tag := binary.LittleEndian.Uint16(hdr[5:])
	s.mu.Lock()
	limit := s.limit()
	s.mu.Unlock()
	switch {
	case size < hdrSize || uint64(size) > c.ReadLen:
		s.d.Stats.BadMessage.Add(1)
		return s.answerErr(c, tag, einval)
	case size > limit:
		s.d.Stats.TooBig.Add(1)
		return s.answerErr(c, tag, emsgsize)
	case typ == P9_TWRITE:
		return s.write(c, size, tag)
	}
	msg := s.msg[:size]
	if virtio.ReadFrom(s.mem, c.Readable(), 0, msg) != nil { // cannot happen: size <= ReadLen
		s.d.Stats.Malformed.Add(1)
		s.push(c.Head, 0)
		return nil
	}
	body := msg[hdrSize:]
	if known, ok := checkRequest(typ, body); !ok {
		s.d.Stats.BadMessage.Add(1)
		if !known {
			return s.answerErr(c, tag, enosys) // not a 9P2000.L request
		}
		return s.answerErr(c, tag, einval)
	}
	var msize uint32
	switch typ {
	case P9_TXATTRWALK, P9_TXATTRCREATE:
		s.d.Stats.Unsupported.Add(1)
		return s.answerErr(c, tag, eopnotsupp)
	case P9_TGETLOCK:
		s.d.Stats.Local.Add(1)
		return s.getlock(c, tag, body)
	case P9_TFLUSH:
		// forward looks the tag up and names the device's tag for it, under
		// the same lock as it takes the Tflush's slot: the request may be
		// answered any time before, and its slot is the next one taken.
		if testHookFlush != nil {
			testHookFlush()
		}
	case P9_TVERSION:
		r := &reader{b: body}
		msize = r.u32()
		version := r.str()
		if msize < MinMessageSize {
			s.d.Stats.BadMessage.Add(1)
			return s.answerErr(c, tag, einval)
		}
		msize = min(msize, s.d.max)
		if strings.HasPrefix(version, version9P2000L) {
			version = version9P2000L
		}
		msg = s.msg[:hdrSize+4+2+len(version)]
		binary.LittleEndian.PutUint32(msg[hdrSize:], msize)
		binary.LittleEndian.PutUint16(msg[hdrSize+4:], uint16(len(version)))
		copy(msg[hdrSize+6:], version)
	case P9_TREAD, P9_TREADDIR:
		// fid[4] offset[8] count[4]: the reply must fit in msize and in
		// the chain.
		count := uint64(binary.LittleEndian.Uint32(body[12:]))
		count = min(count, c.WriteLen-ioHdrSize, uint64(limit)-ioHdrSize)
		binary.LittleEndian.PutUint32(body[12:], uint32(count))
	}
	return s.forward(c, typ, tag, msize, msg, nil)
}

// write forwards a Twrite: the fixed part is copied and checked, the data
// goes from guest memory into the pipe.
func (s *session) write(c *virtio.Chain, size uint32, tag uint16) error {
	fixed := s.msg[:twriteFixed]
	if size < twriteFixed || virtio.ReadFrom(s.mem, c.Readable(), 0, fixed) != nil {
		s.d.Stats.BadMessage.Add(1)
		return s.answerErr(c, tag, einval)
	}
	count := binary.LittleEndian.Uint32(fixed[hdrSize+12:])
	if count != size-twriteFixed {
		s.d.Stats.BadMessage.Add(1)
		return s.answerErr(c, tag, einval)
	}
	var err error
	if s.iov, err = virtio.Slices(s.mem, c.Readable(), twriteFixed, uint64(count), s.iov[:0]); err != nil {
		s.d.Stats.Malformed.Add(1) // cannot happen: size <= ReadLen
		s.push(c.Head, 0)
		return nil
	}
	return s.forward(c, P9_TWRITE, tag, 0, fixed, s.iov)
}

// getlock answers a Tgetlock (fid[4] type[1] start[8] length[8]
// proc_id[4] client_id[s]) with Rgetlock (type[1] start[8] length[8]
// proc_id[4] client_id[s]): the range is not locked.
func (s *session) getlock(c *virtio.Chain, tag uint16, body []byte) error {
	// start, length, proc_id and client_id are echoed (checkRequest
	// made sure they are there), trailing bytes are not.
	rest := body[4+1:]
	rest = rest[:8+8+4+2+int(binary.LittleEndian.Uint16(rest[20:]))]
	r := make([]byte, hdrSize+1+len(rest))
	putHeader(r, uint32(len(r)), P9_RGETLOCK, tag)
	r[hdrSize] = P9_LOCK_TYPE_UNLCK
	copy(r[hdrSize+1:], rest)
	return s.answer(c, r)
}

// answerErr answers Rlerror ecode.
func (s *session) answerErr(c *virtio.Chain, tag uint16, ecode uint32) error {
	var r [rlerrorSize]byte
	putHeader(r[:], rlerrorSize, P9_RLERROR, tag)
	binary.LittleEndian.PutUint32(r[hdrSize:], ecode)
	return s.answer(c, r[:])
}

// answer writes a reply of the device's own into the chain and returns it.
func (s *session) answer(c *virtio.Chain, r []byte) error {
	if uint64(len(r)) > c.WriteLen || virtio.WriteTo(s.mem, c.Writable(), 0, r) != nil {
		s.d.Stats.Malformed.Add(1)
		s.push(c.Head, 0)
		return nil
	}
	s.push(c.Head, uint32(len(r)))
	return nil
}
