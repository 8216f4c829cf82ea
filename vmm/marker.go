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
	found  func()
	done   bool
}

func newMarkerWriter(w io.Writer, marker string, found func()) *markerWriter {
	return &markerWriter{w: w, marker: []byte(marker), found: found}
}

func (m *markerWriter) Write(p []byte) (int, error) {
	if !m.done && len(m.marker) > 0 {
		window := append(m.tail, p...)
		if bytes.Contains(window, m.marker) {
			m.done = true
			m.tail = nil
			m.found()
		} else {
			keep := min(len(window), len(m.marker)-1)
			m.tail = append(m.tail[:0:0], window[len(window)-keep:]...)
		}
	}
	return m.w.Write(p)
}
