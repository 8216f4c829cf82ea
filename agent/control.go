package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ControlVersion names the control protocol on vsock port VsockPort. It is
// a stop-gap until the container protocol (agent/proto) replaces it: one
// request per line, one reply line each.
//
//	ping      -> pong
//	version   -> hull-agent-control/0
//	poweroff  -> ok        (then the VM powers off)
//	anything else -> error <why>
const ControlVersion = "hull-agent-control/0"

// maxRequest bounds a request line.
const maxRequest = 256

// errTooLong: a request line longer than maxRequest; the connection is
// closed after the error reply.
var errTooLong = errors.New("request line too long")

// serveControl answers requests on conn until the peer closes it or asks
// for a power off; poweroff is called with the reason. It returns nil when
// the peer closed the connection or after a power-off request.
func serveControl(conn io.ReadWriter, poweroff func(reason string)) error {
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, maxRequest), maxRequest)
	for sc.Scan() {
		req := strings.TrimSpace(sc.Text())
		var reply string
		switch req {
		case "ping":
			reply = "pong"
		case "version":
			reply = ControlVersion
		case "poweroff":
			reply = "ok"
		case "":
			reply = "error empty request"
		default:
			reply = fmt.Sprintf("error unknown request %q (known: ping, version, poweroff)", clipRequest(req))
		}
		if _, err := io.WriteString(conn, reply+"\n"); err != nil {
			return err
		}
		if req == "poweroff" {
			poweroff("poweroff request on vsock port 1024")
			return nil
		}
	}
	err := sc.Err()
	if errors.Is(err, bufio.ErrTooLong) {
		_, _ = io.WriteString(conn, "error request line too long\n") // the connection ends either way
		return errTooLong
	}
	return err
}

func clipRequest(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
