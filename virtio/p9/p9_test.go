package p9_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hugelgupf/p9/linux"
	lib9p "github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"

	"github.com/hullvm/hull/virtio"
	"github.com/hullvm/hull/virtio/p9"
	vt "github.com/hullvm/hull/virtio/virtiotest"
)

// tree makes base/rootfs, the shared directory, and base/outside, a
// directory next to it the guest must never reach. Inside the rootfs are
// links pointing out of it every way there is.
func tree(t testing.TB) (base, root string) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "rootfs")
	files := map[string]string{
		"rootfs/etc/hostname": "guest\n",
		"rootfs/etc/passwd":   "root:x:0:0:guest:/root:/bin/sh\n",
		"rootfs/data.bin":     strings.Repeat("0123456789abcdef", 1024),
		"outside/secret":      "host secret\n",
	}
	for name, data := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"rel":    "../../etc/passwd", // relative, climbing above the root
		"abs":    "/etc/passwd",      // absolute: the host's file, on the host
		"etcabs": "/etc",             // absolute, to a directory
		"out":    "../outside",       // relative, to the directory next door
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return base, root
}

func walk(t testing.TB, f lib9p.File, names ...string) lib9p.File {
	t.Helper()
	_, nf, err := f.Walk(names)
	if err != nil {
		t.Fatalf("walk %q: %v", names, err)
	}
	t.Cleanup(func() { _ = nf.Close() })
	return nf
}

func readAll(t testing.TB, f lib9p.File) string {
	t.Helper()
	if _, _, err := f.Open(lib9p.ReadOnly); err != nil {
		t.Fatalf("open: %v", err)
	}
	var out []byte
	buf := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if n == 0 || err != nil {
			break
		}
	}
	return string(out)
}

func TestConfigAndFeatures(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{Tag: "bundle-rootfs"})
	if id := s.d.Reg(vt.RegDeviceID); id != uint32(virtio.VIRTIO_ID_9P) {
		t.Errorf("device ID %d, want 9", id)
	}
	if s.d.Features&virtio.Bit(p9.VIRTIO_9P_MOUNT_TAG) == 0 {
		t.Errorf("VIRTIO_9P_MOUNT_TAG not negotiated (features %#x)", s.d.Features)
	}
	cfg := s.d.Config(0, 2+len("bundle-rootfs")+4)
	if n := binary.LittleEndian.Uint16(cfg); n != uint16(len("bundle-rootfs")) {
		t.Errorf("tag_len %d", n)
	}
	if tag := string(cfg[2 : 2+len("bundle-rootfs")]); tag != "bundle-rootfs" {
		t.Errorf("tag %q", tag)
	}
	if !bytes.Equal(cfg[2+len("bundle-rootfs"):], make([]byte, 4)) {
		t.Errorf("bytes past the tag read %x, want zeros", cfg[2+len("bundle-rootfs"):])
	}
}

func TestNewErrors(t *testing.T) {
	_, root := tree(t)
	for _, c := range []struct {
		name string
		path string
		opts p9.Options
		is   error
	}{
		{"no tag", root, p9.Options{}, p9.ErrBadTag},
		{"space in tag", root, p9.Options{Tag: "a b"}, p9.ErrBadTag},
		{"comma in tag", root, p9.Options{Tag: "a,b"}, p9.ErrBadTag},
		{"long tag", root, p9.Options{Tag: strings.Repeat("t", p9.MaxTagLen+1)}, p9.ErrBadTag},
		{"missing dir", filepath.Join(root, "none"), p9.Options{Tag: "x"}, os.ErrNotExist},
		{"a file", filepath.Join(root, "data.bin"), p9.Options{Tag: "x"}, unix.ENOTDIR},
		{"msize too small", root, p9.Options{Tag: "x", MaxMessageSize: 100}, nil},
		{"msize too large", root, p9.Options{Tag: "x", MaxMessageSize: 64 << 20}, nil},
	} {
		dev, err := p9.New(c.path, c.opts)
		if err == nil {
			_ = dev.Close()
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
	}
}

func TestWalkReadWrite(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{})
	_, rootF := s.client()

	// walk two names at once, read
	if got := readAll(t, walk(t, rootF, "etc", "hostname")); got != "guest\n" {
		t.Errorf("etc/hostname reads %q", got)
	}
	// a larger file, in several reads
	if got := readAll(t, walk(t, rootF, "data.bin")); got != strings.Repeat("0123456789abcdef", 1024) {
		t.Errorf("data.bin reads %d bytes, wrong", len(got))
	}
	// getattr
	qid, valid, attr, err := walk(t, rootF, "etc").GetAttr(lib9p.AttrMaskAll)
	if err != nil || !valid.Mode || !attr.Mode.IsDir() || qid.Type != lib9p.TypeDir {
		t.Errorf("getattr etc: %v %+v %v %v", qid, valid, attr.Mode, err)
	}

	// create, write, read back on the host
	dir := walk(t, rootF)
	nf, _, _, err := dir.Create("new.txt", lib9p.ReadWrite, 0o640, lib9p.NoUID, lib9p.NoGID)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if n, err := nf.WriteAt([]byte("hello from the guest"), 0); err != nil || n != 20 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if err := nf.FSync(); err != nil {
		t.Errorf("fsync: %v", err)
	}
	_ = nf.Close()
	b, err := os.ReadFile(filepath.Join(root, "new.txt"))
	if err != nil || string(b) != "hello from the guest" {
		t.Errorf("host sees %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "new.txt")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("created mode %v, %v; want 0640 whatever the umask", fi.Mode(), err)
	}

	// setattr: truncate, chmod, times
	f := walk(t, rootF, "new.txt")
	if err := f.SetAttr(lib9p.SetAttrMask{Size: true, Permissions: true, MTime: true, MTimeNotSystemTime: true},
		lib9p.SetAttr{Size: 5, Permissions: 0o600, MTimeSeconds: 1_000_000_000}); err != nil {
		t.Fatalf("setattr: %v", err)
	}
	fi, err := os.Stat(filepath.Join(root, "new.txt"))
	if err != nil || fi.Size() != 5 || fi.Mode().Perm() != 0o600 || fi.ModTime().Unix() != 1_000_000_000 {
		t.Errorf("after setattr: %v %v %v %v", fi.Size(), fi.Mode(), fi.ModTime(), err)
	}

	// mkdir, rename into it, unlink, rmdir
	if _, err := rootF.Mkdir("sub", 0o755, lib9p.NoUID, lib9p.NoGID); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	sub := walk(t, rootF, "sub")
	if err := rootF.RenameAt("new.txt", sub, "moved.txt"); err != nil {
		t.Fatalf("renameat: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "sub", "moved.txt")); err != nil {
		t.Errorf("renamed file: %v", err)
	}
	if err := sub.UnlinkAt("moved.txt", 0); err != nil {
		t.Fatalf("unlinkat: %v", err)
	}
	if err := rootF.UnlinkAt("sub", unix.AT_REMOVEDIR); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "sub")); !os.IsNotExist(err) {
		t.Errorf("sub still there: %v", err)
	}
	// rmdir of a non-empty directory says so (not EEXIST)
	if err := rootF.UnlinkAt("etc", unix.AT_REMOVEDIR); errnoOf(err) != linux.ENOTEMPTY {
		t.Errorf("rmdir etc: %v, want ENOTEMPTY", err)
	}

	// hard link, statfs
	if err := rootF.Link(walk(t, rootF, "data.bin"), "data.link"); err != nil {
		t.Fatalf("link: %v", err)
	}
	a, _ := os.Stat(filepath.Join(root, "data.bin"))
	l, _ := os.Stat(filepath.Join(root, "data.link"))
	if !os.SameFile(a, l) {
		t.Error("data.link is not a hard link of data.bin")
	}
	if st, err := rootF.StatFS(); err != nil || st.BlockSize == 0 || st.NameLength == 0 {
		t.Errorf("statfs: %+v, %v", st, err)
	}
	// a FIFO can be made, not opened; a device node cannot be made
	if _, err := rootF.Mknod("fifo", lib9p.FileMode(unix.S_IFIFO|0o644), 0, 0, lib9p.NoUID, lib9p.NoGID); err != nil {
		t.Errorf("mknod fifo: %v", err)
	}
	if _, _, err := walk(t, rootF, "fifo").Open(lib9p.ReadOnly); errnoOf(err) != linux.EPERM {
		t.Errorf("open fifo: %v, want EPERM", err)
	}
	if _, err := rootF.Mknod("null", lib9p.FileMode(unix.S_IFCHR|0o666), 1, 3, lib9p.NoUID, lib9p.NoGID); errnoOf(err) != linux.EPERM {
		t.Errorf("mknod char device: %v, want EPERM", err)
	}
}

func TestReaddir(t *testing.T) {
	_, root := tree(t)
	want := []string{".", "..", "abs", "bin", "data.bin", "etc", "etcabs", "out", "rel"}
	for i := range 300 { // more than one Treaddir's worth
		name := "f" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		if err := os.WriteFile(filepath.Join(root, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	sort.Strings(want)
	s := newShare(t, root, p9.Options{})
	_, rootF := s.client()
	d := walk(t, rootF)
	if _, _, err := d.Open(lib9p.ReadOnly); err != nil {
		t.Fatal(err)
	}
	var got []string
	types := map[string]lib9p.QIDType{}
	var off uint64
	calls := 0
	for {
		ents, err := d.Readdir(off, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			break
		}
		calls++
		for _, e := range ents {
			got = append(got, e.Name)
			types[e.Name] = e.Type
			off = e.Offset
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("readdir gave %d names, want %d\n got %q\nwant %q", len(got), len(want), got, want)
	}
	if calls < 2 {
		t.Errorf("%d Treaddir calls: the test wants several", calls)
	}
	// d_type as Linux's getdents wants it
	for name, dt := range map[string]lib9p.QIDType{"etc": unix.DT_DIR, "data.bin": unix.DT_REG, "abs": unix.DT_LNK} {
		if types[name] != dt {
			t.Errorf("%s: type %d, want DT %d", name, types[name], dt)
		}
	}
}

// TestSymlinksNeverFollowed: links in the tree, whatever they point to, are
// served as links; walking through one, opening one, or linking to one
// never reaches what it names on the host.
func TestSymlinksNeverFollowed(t *testing.T) {
	base, root := tree(t)
	s := newShare(t, root, p9.Options{})
	_, rootF := s.client()

	for name, target := range map[string]string{"rel": "../../etc/passwd", "abs": "/etc/passwd", "etcabs": "/etc", "out": "../outside"} {
		qids, f, err := rootF.Walk([]string{name})
		if err != nil {
			t.Fatalf("walk %s: %v", name, err)
		}
		if qids[0].Type != lib9p.TypeSymlink {
			t.Errorf("%s: QID type %#x, want a symlink", name, qids[0].Type)
		}
		if got, err := f.Readlink(); err != nil || got != target {
			t.Errorf("readlink %s: %q, %v; want %q", name, got, err, target)
		}
		if _, _, err := f.Open(lib9p.ReadOnly); err == nil {
			t.Errorf("%s: a symlink opened", name)
		}
		_ = f.Close()
	}
	// through them: refused, never the host's file
	for _, path := range [][]string{{"etcabs", "passwd"}, {"etcabs", "hostname"}, {"out", "secret"}, {"abs", "x"}} {
		if _, f, err := rootF.Walk(path); err == nil {
			_ = f.Close()
			t.Errorf("walk %q through a link succeeded", path)
		}
	}
	// names that leave the directory
	for _, path := range [][]string{{".."}, {"etc", ".."}, {"."}, {"etc/passwd"}, {"/etc"}, {""}, {"etc\x00"}} {
		if _, f, err := rootF.Walk(path); err == nil {
			_ = f.Close()
			t.Errorf("walk %q succeeded", path)
		}
	}
	// the guest makes escaping links: kept as text, never resolved
	for name, target := range map[string]string{"esc1": "../../etc/passwd", "esc2": "/etc/passwd", "esc3": "../outside/secret"} {
		if _, err := rootF.Symlink(target, name, lib9p.NoUID, lib9p.NoGID); err != nil {
			t.Fatalf("symlink %s: %v", name, err)
		}
		if got, err := os.Readlink(filepath.Join(root, name)); err != nil || got != target {
			t.Errorf("host sees %s -> %q, %v", name, got, err)
		}
		if _, f, err := rootF.Walk([]string{name, "x"}); err == nil {
			_ = f.Close()
			t.Errorf("walk through %s succeeded", name)
		}
	}
	// a hard link of a link is a link, not the file it names
	if err := rootF.Link(walk(t, rootF, "abs"), "abs.hard"); err != nil {
		t.Fatalf("link: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "abs.hard")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("abs.hard: %v, %v; want a symlink", fi.Mode(), err)
	}
	// the guest cannot make names outside either
	if _, _, _, err := walk(t, rootF).Create("../escaped", lib9p.ReadWrite, 0o644, lib9p.NoUID, lib9p.NoGID); err == nil {
		t.Error("create ../escaped succeeded")
	}
	if _, err := rootF.Mkdir("..", 0o755, lib9p.NoUID, lib9p.NoGID); err == nil {
		t.Error("mkdir .. succeeded")
	}
	if err := rootF.RenameAt("data.bin", rootF, "../stolen"); err == nil {
		t.Error("rename to ../stolen succeeded")
	}
	// creating over an escaping link does not write through it
	if _, _, _, err := walk(t, rootF).Create("out", lib9p.ReadWrite, 0o644, lib9p.NoUID, lib9p.NoGID); errnoOf(err) != linux.EEXIST {
		t.Errorf("create over a link: %v, want EEXIST", err)
	}
	// an attach path cannot climb
	for _, aname := range []string{"../outside", "/../outside", "etc/../../outside", "out"} {
		att := msg(p9.P9_TATTACH, 7, enc{}.u32(1000).u32(p9.P9_NOFID).str("root").str(aname).u32(0))
		if r := parse(t, s.conn.roundTrip(t, att, 4096)); r.typ != p9.P9_RLERROR && aname != "out" {
			t.Errorf("attach %q: reply type %d, want Rlerror", aname, r.typ)
		} else if aname == "out" && r.typ == p9.P9_RATTACH {
			// attaching at a link gives the link itself, never its target
			r := parse(t, s.conn.roundTrip(t, msg(p9.P9_TREADLINK, 8, enc{}.u32(1000)), 4096))
			if r.typ != p9.P9_RREADLINK || string(r.body[2:]) != "../outside" {
				t.Errorf("attach out: readlink gives type %d %q", r.typ, r.body)
			}
			s.conn.roundTrip(t, msg(p9.P9_TCLUNK, 9, enc{}.u32(1000)), 4096)
		}
	}
	// nothing outside changed
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "outside rootfs" {
		t.Errorf("the share's parent holds %q", names)
	}
	if b, err := os.ReadFile(filepath.Join(base, "outside", "secret")); err != nil || string(b) != "host secret\n" {
		t.Errorf("outside/secret: %q %v", b, err)
	}
}

// TestReadOnly: a read-only share refuses every change with EROFS and
// still serves reads.
func TestReadOnly(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{ReadOnly: true})
	_, rootF := s.client()
	if !s.dev.ReadOnly() {
		t.Fatal("ReadOnly() false")
	}
	if got := readAll(t, walk(t, rootF, "etc", "passwd")); !strings.HasPrefix(got, "root:") {
		t.Errorf("read %q", got)
	}
	rofs := func(what string, err error) {
		t.Helper()
		if errnoOf(err) != linux.EROFS {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	for _, mode := range []lib9p.OpenFlags{lib9p.WriteOnly, lib9p.ReadWrite, lib9p.ReadOnly | lib9p.OpenFlags(unix.O_TRUNC)} {
		_, _, err := walk(t, rootF, "data.bin").Open(mode)
		rofs("open "+mode.String(), err)
	}
	_, _, _, err := walk(t, rootF).Create("new", lib9p.ReadWrite, 0o644, lib9p.NoUID, lib9p.NoGID)
	rofs("create", err)
	_, err = rootF.Mkdir("dir", 0o755, lib9p.NoUID, lib9p.NoGID)
	rofs("mkdir", err)
	rofs("unlink", rootF.UnlinkAt("data.bin", 0))
	rofs("rmdir", rootF.UnlinkAt("bin", unix.AT_REMOVEDIR))
	rofs("setattr", walk(t, rootF, "data.bin").SetAttr(lib9p.SetAttrMask{Size: true}, lib9p.SetAttr{Size: 0}))
	rofs("chmod", walk(t, rootF, "bin").SetAttr(lib9p.SetAttrMask{Permissions: true}, lib9p.SetAttr{Permissions: 0o777}))
	rofs("rename", rootF.RenameAt("data.bin", rootF, "moved"))
	_, err = rootF.Symlink("x", "link", lib9p.NoUID, lib9p.NoGID)
	rofs("symlink", err)
	rofs("link", rootF.Link(walk(t, rootF, "data.bin"), "hard"))
	_, err = rootF.Mknod("fifo", lib9p.FileMode(unix.S_IFIFO|0o644), 0, 0, lib9p.NoUID, lib9p.NoGID)
	rofs("mknod", err)
	// the tree is as it was
	fi, err := os.Stat(filepath.Join(root, "data.bin"))
	if err != nil || fi.Size() != 16*1024 || fi.Mode().Perm() != 0o644 {
		t.Errorf("data.bin changed: %v %v", fi, err)
	}
	for _, n := range []string{"new", "dir", "moved", "link", "hard", "fifo"} {
		if _, err := os.Lstat(filepath.Join(root, n)); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", n, err)
		}
	}
}

// TestConcurrentClients: requests in flight together complete, each in
// its own chain, whatever order the server answers them in.
func TestConcurrent(t *testing.T) {
	_, root := tree(t)
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(root, "f"+string(rune('0'+i))), bytes.Repeat([]byte{byte('a' + i)}, 20000+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newShare(t, root, p9.Options{})
	_, rootF := s.client()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "f" + string(rune('0'+i))
			for range 5 {
				_, f, err := rootF.Walk([]string{name})
				if err != nil {
					errs <- err.Error()
					return
				}
				if _, _, err := f.Open(lib9p.ReadOnly); err != nil {
					errs <- err.Error()
					return
				}
				buf := make([]byte, 30000)
				n, err := f.ReadAt(buf, 0)
				if err != nil || n != 20000+i || !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte('a' + i)}, n)) {
					errs <- name + ": wrong data"
				}
				_ = f.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if r, q := s.dev.Stats.Replies.Load(), s.dev.Stats.Requests.Load(); r != q || s.dev.Stats.Unroutable.Load() != 0 {
		t.Errorf("%d requests, %d replies, %d unroutable", q, r, s.dev.Stats.Unroutable.Load())
	}
}

// TestResetStartsNewSession: after a device reset the old fids are gone
// and a new client works.
func TestResetStartsNewSession(t *testing.T) {
	_, root := tree(t)
	dev, err := p9.New(root, p9.Options{Tag: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	d := vt.New(t, dev, vt.Options{MemSize: 32 << 20})
	for round := range 3 {
		d.Init(allFeatures)
		q := d.SetupQueue(0, 64)
		d.DriverOK()
		c := newChainConn(d, q, testMsize, 4)
		if round > 0 {
			// fid 1 of the previous session is unknown now
			r := parse(t, c.roundTrip(t, msg(p9.P9_TGETATTR, 1, enc{}.u32(1).u64(0x7ff)), 4096))
			if e := r.ecode(t); e != uint32(linux.EBADF) {
				t.Errorf("round %d: old fid: errno %d, want EBADF", round, e)
			}
		}
		cl, err := lib9p.NewClient(c, lib9p.WithMessageSize(testMsize))
		if err != nil {
			t.Fatal(err)
		}
		rootF, err := cl.Attach("")
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, walk(t, rootF, "etc", "hostname")); got != "guest\n" {
			t.Errorf("round %d: %q", round, got)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		d.Reset()
	}
}

// TestMaxFiles: a guest that keeps walking without clunking gets ENFILE
// once it holds MaxFiles files (the attach's root counts), counted in
// Stats; a clunk makes room again, and the host's descriptors stay
// bounded.
func TestMaxFiles(t *testing.T) {
	_, root := tree(t)
	s := newShare(t, root, p9.Options{MaxFiles: 8})
	_, rootF := s.client()
	var held []lib9p.File
	for range 7 {
		_, f, err := rootF.Walk([]string{"etc"})
		if err != nil {
			t.Fatalf("walk %d: %v", len(held), err)
		}
		held = append(held, f)
	}
	if _, _, err := rootF.Walk([]string{"etc"}); errnoOf(err) != linux.ENFILE {
		t.Fatalf("walk past MaxFiles: %v, want ENFILE", err)
	}
	if _, _, err := rootF.Walk(nil); errnoOf(err) != linux.ENFILE {
		t.Fatalf("clone past MaxFiles: %v, want ENFILE", err)
	}
	if n := s.dev.Stats.TooManyFiles.Load(); n != 2 {
		t.Errorf("TooManyFiles %d, want 2", n)
	}
	if err := held[0].Close(); err != nil {
		t.Fatal(err)
	}
	f, err := walk1(rootF, "etc")
	if err != nil {
		t.Fatalf("walk after a clunk: %v", err)
	}
	f.Close()
}

func walk1(f lib9p.File, name string) (lib9p.File, error) {
	_, nf, err := f.Walk([]string{name})
	return nf, err
}
