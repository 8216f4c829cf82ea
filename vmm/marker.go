package vmm

import (
	"bytes"
	"io"
)

// markerWriter passes console output through and calls found once, the
// first time marker appears in it, also when the marker is split across
// writes. After that it is a plain pass-through: no cost on the hot path.
type markerWriter struct {
	w      io.Writer
	marker []byte
	tail   []byte // the last len(marker)-1 bytes seen, to catch a split marker
	window []byte // tail + the current write, reused: no allocation per write
	found  func()
	done   bool
}

func newMarkerWriter(w io.Writer, marker string, found func()) *markerWriter {
	return &markerWriter{w: w, marker: []byte(marker), found: found,
		tail: make([]byte, 0, len(marker))}
}

func (m *markerWriter) Write(p []byte) (int, error) {
	if !m.done && len(m.marker) > 0 {
		m.window = append(append(m.window[:0], m.tail...), p...)
		if bytes.Contains(m.window, m.marker) {
			m.done = true
			m.tail, m.window = nil, nil
			m.found()
		} else {
			keep := min(len(m.window), len(m.marker)-1)
			m.tail = append(m.tail[:0], m.window[len(m.window)-keep:]...)
		}
	}
	return m.w.Write(p)
}
