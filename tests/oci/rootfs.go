package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// RootfsName is the tarball util.PrepareBundle unpacks into every bundle:
// `tar -xf rootfs-<GOARCH>.tar.gz -C <bundle>`, relative to the program's
// working directory. The bundle directory itself is the container's root
// (root.path "."), so the rootfs sits beside config.json and runtimetest.
var RootfsName = fmt.Sprintf("rootfs-%s.tar.gz", runtime.GOARCH)

// rootfsTime is every entry's mtime, so the tarball is reproducible.
var rootfsTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Minimal account files: the tests use numeric IDs (process_user: uid 10,
// gid 10, additional gid 5), the names are for humans poking at a bundle.
const (
	rootfsPasswd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n"
	rootfsGroup  = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nwheel:x:10:\nnogroup:x:65534:\n"
)

// FindBusybox returns Debian's static busybox, installing busybox-static
// with apt-get when /bin/busybox is missing or dynamically linked (and we
// are root; otherwise it says what to install).
func FindBusybox(ctx context.Context, log io.Writer) (string, error) {
	if checkStatic(BusyboxPath) == nil {
		return BusyboxPath, nil
	}
	if err := AptInstall(ctx, log, "busybox-static"); err != nil {
		return "", err
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return "", fmt.Errorf("after installing busybox-static: %w", err)
	}
	return BusyboxPath, nil
}

// BusyboxApplets returns the applet names `busybox --list` prints.
func BusyboxApplets(ctx context.Context, busybox string) ([]string, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list: no applets", busybox)
	}
	return applets, nil
}

// WriteRootfs writes the rootfs tarball (gzip'd tar) in the layout of the
// rootfs-amd64.tar.gz runtime-tools ships: ./bin/busybox with every applet
// as a symlink beside it, empty ./dev ./proc ./sys, ./etc/passwd and
// ./etc/group, all owned by root. Entries are sorted and timestamps fixed.
func WriteRootfs(w io.Writer, busybox string, applets []string) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	hdr := func(name string, typ byte, mode int64, size int64, link string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, Linkname: link,
			Uname: "root", Gname: "root", ModTime: rootfsTime, Format: tar.FormatGNU}
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(hdr(name, tar.TypeReg, mode, int64(len(data)), "")); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"./", "./bin/", "./dev/", "./etc/", "./proc/", "./sys/"} {
		if err := tw.WriteHeader(hdr(d, tar.TypeDir, 0o755, 0, "")); err != nil {
			return err
		}
	}
	if err := file("./bin/busybox", 0o755, bb); err != nil {
		return err
	}
	sorted := append([]string(nil), applets...)
	sort.Strings(sorted)
	seen := map[string]bool{"busybox": true}
	for _, a := range sorted {
		if seen[a] {
			continue
		}
		seen[a] = true
		if err := tw.WriteHeader(hdr("./bin/"+a, tar.TypeSymlink, 0o777, 0, "busybox")); err != nil {
			return err
		}
	}
	if err := file("./etc/group", 0o644, []byte(rootfsGroup)); err != nil {
		return err
	}
	if err := file("./etc/passwd", 0o644, []byte(rootfsPasswd)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// AptInstall installs Debian packages with apt-get, running `apt-get
// update` once when the first attempt fails. It needs root.
func AptInstall(ctx context.Context, log io.Writer, pkgs ...string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s and not root: install it (apt-get install %s)", strings.Join(pkgs, " "), strings.Join(pkgs, " "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing %s and no apt-get to install it", strings.Join(pkgs, " "))
	}
	fmt.Fprintf(log, "oci: installing %s\n", strings.Join(pkgs, " "))
	install := func() ([]byte, error) {
		args := append([]string{"install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "--no-install-recommends"}, pkgs...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err == nil {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := install(); err != nil {
		return fmt.Errorf("apt-get install %s: %w: %s", strings.Join(pkgs, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
