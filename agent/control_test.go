package agent

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// rw is a control connection: requests in, replies out.
type rw struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *rw) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *rw) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *rw) String() string              { return c.out.String() }

func TestServeControl(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		off     bool
		err     error
	}{
		{"ping\n", "pong\n", false, nil},
		{"version\r\n ping \n", ControlVersion + "\npong\n", false, nil},
		{"\nbogus\n", "error empty request\nerror unknown request \"bogus\" (known: ping, version, poweroff)\n", false, nil},
		{"ping\npoweroff\nping\n", "pong\nok\n", true, nil}, // nothing after poweroff
		{"poweroff", "ok\n", true, nil},                     // last line without a newline
		{strings.Repeat("x", 300) + "\nping\n", "error request line too long\n", false, errTooLong},
	} {
		conn := &rw{in: strings.NewReader(tc.in)}
		var reasons []string
		err := serveControl(conn, func(r string) { reasons = append(reasons, r) })
		if err != tc.err {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.err)
		}
		if got := conn.String(); got != tc.out {
			t.Errorf("%q: replies %q, want %q", tc.in, got, tc.out)
		}
		if off := len(reasons) == 1; off != tc.off || len(reasons) > 1 {
			t.Errorf("%q: power-off requests %q, want %v", tc.in, reasons, tc.off)
		}
	}
}

// FuzzServeControl: any input gets only whole reply lines and at most one
// power-off request.
func FuzzServeControl(f *testing.F) {
	for _, s := range []string{"ping\n", "poweroff\n", "\x00\xff\n\n", strings.Repeat("a", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		conn := &rw{in: strings.NewReader(in)}
		n := 0
		_ = serveControl(conn, func(string) { n++ })
		if n > 1 {
			t.Fatalf("%d power-off requests", n)
		}
		if out := conn.String(); out != "" && !strings.HasSuffix(out, "\n") {
			t.Fatalf("reply %q does not end in a newline", out)
		}
	})
}
