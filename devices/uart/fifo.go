package uart

// fifo is a bounded byte ring: the receive FIFO, plus the input the host has
// queued behind it.
type fifo struct {
	buf  []byte
	head int // index of the oldest byte
	n    int // bytes queued
}

func newFIFO(size int) fifo { return fifo{buf: make([]byte, size)} }

func (f *fifo) len() int { return f.n }

// push queues as much of p as fits and returns how much that was.
func (f *fifo) push(p []byte) int {
	free := len(f.buf) - f.n
	if len(p) > free {
		p = p[:free]
	}
	tail := (f.head + f.n) % len(f.buf)
	c := copy(f.buf[tail:], p)
	copy(f.buf, p[c:])
	f.n += len(p)
	return len(p)
}

// pop removes and returns the oldest byte; ok is false when empty.
func (f *fifo) pop() (b byte, ok bool) {
	if f.n == 0 {
		return 0, false
	}
	b = f.buf[f.head]
	f.head = (f.head + 1) % len(f.buf)
	f.n--
	return b, true
}

// clear empties the FIFO and returns how many bytes it discarded.
func (f *fifo) clear() int {
	n := f.n
	f.head, f.n = 0, 0
	return n
}
