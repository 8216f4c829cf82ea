// Package api is the VMM's control socket: HTTP/1.1 with JSON bodies over a
// Unix socket, served by a running VMM (`hull vm boot --api-sock`, the vm
// sandbox's <state dir>/vmm.sock) and used by `hull vm` subcommands and the
// runtime. docs/vm-api.md describes the endpoints.
//
// The package imports nothing of hull's, so that the runtime (which must
// not import vmm) can be a client.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Status is what a VM is doing (GET /v1/vm).
type Status struct {
	State  string        `json:"state"` // "running", "paused" or "stopped"
	CPUs   int           `json:"cpus"`
	MemMiB int           `json:"memMiB"`
	Uptime time.Duration `json:"uptimeNs"`
	Exit   string        `json:"exit,omitempty"` // how a stopped VM stopped
}

// SnapshotRequest asks for a snapshot of a paused VM into Dir (PUT
// /v1/snapshot). Dir is created; it must not hold a snapshot already.
type SnapshotRequest struct {
	Dir string `json:"dir"`
}

// SnapshotResult describes a snapshot taken.
type SnapshotResult struct {
	Dir       string        `json:"dir"`
	MemBytes  int64         `json:"memBytes"`  // guest pages written (the memory file's allocated size)
	StateSize int64         `json:"stateSize"` // the state file's size
	Took      time.Duration `json:"tookNs"`
}

// Controller is what a server serves: a VM.
type Controller interface {
	Status() Status
	Pause() error
	Resume() error
	// Stop stops the VM; it returns before the VM is gone.
	Stop() error
	Snapshot(SnapshotRequest) (*SnapshotResult, error)
}

// ErrState is wrapped by Controller errors that come from the VM's state
// (snapshot of a running VM, pause of a stopped one): HTTP 409.
var ErrState = errors.New("not possible in the VM's state")

// errorBody is every error response's body.
type errorBody struct {
	Error string `json:"error"`
}

// Listen binds the control socket at path (mode 0600), replacing a stale
// socket file but no other file.
func Listen(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another VMM is serving it", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Handler serves c's endpoints.
func Handler(c Controller) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/vm", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, c.Status())
	})
	action := func(f func() error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := f(); err != nil {
				fail(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("PUT /v1/vm/pause", action(c.Pause))
	mux.HandleFunc("PUT /v1/vm/resume", action(c.Resume))
	mux.HandleFunc("PUT /v1/vm/stop", action(c.Stop))
	mux.HandleFunc("PUT /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		var req SnapshotRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, errorBody{"snapshot request: " + err.Error()})
			return
		}
		if req.Dir == "" {
			reply(w, http.StatusBadRequest, errorBody{"snapshot request: no dir"})
			return
		}
		res, err := c.Snapshot(req)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, res)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, errorBody{fmt.Sprintf("no endpoint %s %s (see docs/vm-api.md)", r.Method, r.URL.Path)})
	})
	return mux
}

// Serve serves c on ln until ln is closed or Close is called on the
// returned server.
func Serve(ln net.Listener, c Controller) *http.Server {
	srv := &http.Server{Handler: Handler(c), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrState) {
		code = http.StatusConflict
	}
	reply(w, code, errorBody{err.Error()})
}

// Client talks to one VMM's control socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client of the control socket at path. Nothing is
// dialled until a call.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}}
}

// Error is an error response of the VMM.
type Error struct {
	Code    int // HTTP status
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is makes a 409 match ErrState.
func (e *Error) Is(target error) bool { return target == ErrState && e.Code == http.StatusConflict }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vmm"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("VMM control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("VMM control socket %s: %w", c.path, err)
	}
	if resp.StatusCode >= 300 {
		var e errorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
		return &Error{Code: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

// Status asks for the VM's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/v1/vm", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Pause pauses the VM's vCPUs.
func (c *Client) Pause(ctx context.Context) error {
	return c.do(ctx, http.MethodPut, "/v1/vm/pause", nil, nil)
}

// Resume resumes a paused VM.
func (c *Client) Resume(ctx context.Context) error {
	return c.do(ctx, http.MethodPut, "/v1/vm/resume", nil, nil)
}

// Stop stops the VM.
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, http.MethodPut, "/v1/vm/stop", nil, nil)
}

// Snapshot snapshots a paused VM.
func (c *Client) Snapshot(ctx context.Context, req SnapshotRequest) (*SnapshotResult, error) {
	var r SnapshotResult
	if err := c.do(ctx, http.MethodPut, "/v1/snapshot", &req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
