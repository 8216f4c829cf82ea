package proto

import (
	"bytes"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary bytes to the agent's side of a control
// connection: framing, JSON decoding and argument validation must reject
// garbage with an error, never panic or allocate past MaxFrame.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"op":"ping"}`,
		`{"seq":2,"op":"create","fds":3,"args":{"id":"c","bundle":"/b","spec":{},"stdio":"fds"}}`,
		`{"seq":3,"op":"signal","args":{"id":"c","signal":9,"all":true}}`,
		`{"seq":4,"op":"exec","args":{"id":"c","exec":"e","process":{"args":["sh"]},"stdio":"stream","terminal":true}}`,
		`{"seq":5,"op":"resize","args":{"id":"c","width":80,"height":24}}`,
		`{"seq":6,"op":"create","fds":-1,"args":{"id":"..","stdio":"fds"}}`,
		`{"seq":7,"op":"wait","args":null}`,
		`{"seq":8,"op":"state","args":"c"}`,
	} {
		var buf bytes.Buffer
		if err := writeRaw(&buf, []byte(s)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			b, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(b) > MaxFrame {
				t.Fatalf("frame of %d bytes accepted", len(b))
			}
			var req Request
			if decode(b, &req) != nil {
				continue
			}
			args, err := req.Validate()
			if err == nil && req.Op != OpPing && req.Op != OpShutdown && args == nil {
				t.Fatalf("%s validated without arguments", req.Op)
			}
		}
	})
}
