package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/hullvm/hull"

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", dir, err)
	}
	return dir
}

// goFiles lists the non-test Go files of the module (vendor and testdata skipped).
func goFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "vendor", "testdata", ".git", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestUnsafeOnlyInUnsafeFiles(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	checked := 0
	for _, path := range goFiles(t, root) {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		usesUnsafe := false
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "unsafe" {
				usesUnsafe = true
			}
		}
		rel, _ := filepath.Rel(root, path)
		isUnsafeFile := strings.HasSuffix(path, "_unsafe.go")
		switch {
		case usesUnsafe && !isUnsafeFile:
			t.Errorf("%s imports unsafe: move that code into a *_unsafe.go file", rel)
		case isUnsafeFile:
			checked++
			if !hasSafetyComment(f.Comments) {
				t.Errorf("%s: an _unsafe.go file must say why it is safe in a comment containing \"SAFETY:\"", rel)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no _unsafe.go file at all: the walk is broken")
	}
}

func hasSafetyComment(groups []*ast.CommentGroup) bool {
	for _, g := range groups {
		if strings.Contains(g.Text(), "SAFETY:") {
			return true
		}
	}
	return false
}

// forbidden lists, per package prefix (relative to the module), the hull
// packages it must not import (DESIGN.md §2, STYLE §4). "*" means any hull package.
var forbidden = map[string][]string{
	"kvm":       {"*"},
	"guestmem":  {"*"},
	"boot":      {"kvm", "vmm", "devices", "virtio", "runtime", "agent"},
	"devices":   {"kvm", "vmm", "virtio", "guestmem", "boot", "runtime", "agent"},
	"virtio":    {"kvm", "vmm", "devices", "boot", "runtime", "agent"},
	"hostcheck": {"vmm", "runtime", "agent", "devices", "virtio"},
	"runtime":   {"vmm", "kvm"}, // the vm sandbox reaches vmm through package vmsandbox
	"vmsandbox": {"kvm"},
	"agent":     {"vmm", "kvm", "runtime", "boot", "devices", "virtio"},
	"initramfs": {"kvm", "vmm", "boot", "devices", "virtio", "guestmem"},
	// The VMM's control socket protocol: the runtime is its client.
	"vmm/api": {"*"},

	// The container network namespace's TAP and tc redirects: the VMM
	// process and `hull delete` (package runtime) both use it.
	"vmsandbox/tcnet": {"vmm", "kvm", "runtime", "agent", "boot", "devices", "virtio", "guestmem"},
}

// allowed are the exceptions to forbidden: pkg prefix → hull packages it
// may import although a rule above bans them.
var allowed = map[string][]string{
	"runtime": {"vmm/api"},
}

func TestDependencyDirection(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		for prefix, bans := range forbidden {
			if pkg != prefix && !strings.HasPrefix(pkg, prefix+"/") {
				continue
			}
			seen++
			for _, imp := range fields[1:] {
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				dep := strings.TrimPrefix(imp, module+"/")
				if strings.HasPrefix(dep, prefix+"/") || dep == prefix {
					continue // a package's own sub-packages
				}
				exempt := false
				for _, a := range allowed[prefix] {
					exempt = exempt || dep == a
				}
				for _, ban := range bans {
					if !exempt && (ban == "*" || dep == ban || strings.HasPrefix(dep, ban+"/")) {
						t.Errorf("%s imports %s: forbidden by DESIGN.md §2", pkg, dep)
					}
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no package matched any rule: the go list parsing is broken")
	}
}
