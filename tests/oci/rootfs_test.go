package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteRootfs(t *testing.T) {
	bb := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(bb, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	applets := []string{"sh", "true", "sleep", "sh", "busybox", "cat"}
	var a, b bytes.Buffer
	if err := WriteRootfs(&a, bb, applets); err != nil {
		t.Fatal(err)
	}
	if err := WriteRootfs(&b, bb, applets); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes differ: the tarball is not reproducible")
	}
	zr, err := gzip.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := h.Name
		switch h.Typeflag {
		case tar.TypeSymlink:
			e += " -> " + h.Linkname
		case tar.TypeReg:
			data, _ := io.ReadAll(tr)
			if h.Name == "./bin/busybox" && (string(data) != "\x7fELF not really" || h.Mode != 0o755) {
				t.Errorf("busybox entry: mode %o, %q", h.Mode, data)
			}
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		got = append(got, e)
	}
	want := []string{"./", "./bin/", "./dev/", "./etc/", "./proc/", "./sys/", "./bin/busybox",
		"./bin/cat -> busybox", "./bin/sh -> busybox", "./bin/sleep -> busybox", "./bin/true -> busybox",
		"./etc/group", "./etc/passwd"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got %q\nwant %q", got, want)
	}
}

// The tarball unpacks with tar as util.PrepareBundle calls it.
func TestWriteRootfsUnpacks(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar:", err)
	}
	dir := t.TempDir()
	bb := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bb, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, RootfsName))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteRootfs(f, bb, []string{"sh"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tar", "-xf", RootfsName, "-C", bundle)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	if target, err := os.Readlink(filepath.Join(bundle, "bin", "sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(bundle, "etc", "passwd")); err != nil || !strings.HasPrefix(string(b), "root:x:0:0:") {
		t.Errorf("etc/passwd = %q, %v", b, err)
	}
}

func TestCheckStatic(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary: static when built with CGO_ENABLED=0, dynamic
	// with cgo (the race detector); either way checkStatic must not fail
	// to read it, and a non-ELF file must be an error.
	_ = checkStatic(self)
	bad := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if checkStatic(bad) == nil {
		t.Error("checkStatic accepted a shell script")
	}
}
