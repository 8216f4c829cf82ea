package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeVM struct {
	state string
	snaps []SnapshotRequest
}

func (f *fakeVM) Status() Status { return Status{State: f.state, CPUs: 2, MemMiB: 128} }
func (f *fakeVM) Pause() error {
	if f.state == "stopped" {
		return fmt.Errorf("the VM has stopped (%w)", ErrState)
	}
	f.state = "paused"
	return nil
}
func (f *fakeVM) Resume() error { f.state = "running"; return nil }
func (f *fakeVM) Stop() error   { f.state = "stopped"; return nil }
func (f *fakeVM) Snapshot(r SnapshotRequest) (*SnapshotResult, error) {
	if f.state != "paused" {
		return nil, fmt.Errorf("pause it first (%w)", ErrState)
	}
	f.snaps = append(f.snaps, r)
	return &SnapshotResult{Dir: r.Dir, MemBytes: 4096}, nil
}

func serve(t *testing.T, c Controller) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := Serve(ln, c)
	t.Cleanup(func() { srv.Close() })
	return NewClient(path), path
}

func TestControlSocket(t *testing.T) {
	ctx := context.Background()
	vm := &fakeVM{state: "running"}
	c, path := serve(t, vm)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.State != "running" || st.CPUs != 2 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if _, err := c.Snapshot(ctx, SnapshotRequest{Dir: "/x"}); !errors.Is(err, ErrState) {
		t.Fatalf("snapshot of a running VM: %v, want ErrState", err)
	}
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.Snapshot(ctx, SnapshotRequest{Dir: "/x"})
	if err != nil || res.Dir != "/x" || res.MemBytes != 4096 || len(vm.snaps) != 1 {
		t.Fatalf("snapshot: %+v %v", res, err)
	}
	if err := c.Resume(ctx); err != nil || vm.state != "running" {
		t.Fatalf("resume: %v, state %s", err, vm.state)
	}
	if err := c.Stop(ctx); err != nil || vm.state != "stopped" {
		t.Fatalf("stop: %v", err)
	}
	if err := c.Pause(ctx); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("pause of a stopped VM: %v", err)
	}
}

func TestControlSocketBadRequests(t *testing.T) {
	vm := &fakeVM{state: "paused"}
	_, path := serve(t, vm)
	hc := NewClient(path).hc
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"PUT", "/v1/snapshot", `{"dir":`, http.StatusBadRequest},
		{"PUT", "/v1/snapshot", `{}`, http.StatusBadRequest},
		{"PUT", "/v1/snapshot", `{"dir":"/x","extra":1}`, http.StatusBadRequest},
		{"GET", "/v1/vm/pause", ``, http.StatusNotFound},
		{"DELETE", "/v1/vm", ``, http.StatusNotFound},
		{"GET", "/nothing", ``, http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, "http://vmm"+c.path, strings.NewReader(c.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s %s: HTTP %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.code)
		}
	}
	if len(vm.snaps) != 0 {
		t.Errorf("a bad request took a snapshot")
	}
}

func TestListenRefusesLiveSocketAndFiles(t *testing.T) {
	_, path := serve(t, &fakeVM{state: "running"})
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another VMM") {
		t.Fatalf("second Listen on a served socket: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := Listen(file); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
}
