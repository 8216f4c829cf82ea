package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// fakeIOLoopHull stands in for `hull vm boot --kernel ioloop.elf`: the span
// first KVM_RUN -> stopped is 1 ms + n × 100 ns.
func fakeIOLoopHull(t *testing.T, dir string) string {
	t.Helper()
	return script(t, dir, "hull", `
tl= n=
while [ $# -gt 0 ]; do
  case $1 in
    --timeline-json) tl=$2; shift ;;
    --cmdline) n=${2#n=}; shift ;;
    --test-exit-port) port=1 ;;
  esac
  shift
done
[ "$port" = 1 ] || { echo "no --test-exit-port"; exit 9; }
echo "ioloop: n=$n"; echo "ioloop: done"
printf '{"reason":"guest exit","timeline":[{"name":"process start","at_ns":0},{"name":"first KVM_RUN","at_ns":5000000},{"name":"stopped","at_ns":%d}]}\n' $((5000000 + 1000000 + n * 100)) > "$tl"
`)
}

func TestRunIOExit(t *testing.T) {
	dir := t.TempDir()
	guest := script(t, dir, "ioloop.elf", "")
	c := script(t, dir, "ioexit", `echo "ioexit-c: $1 exits, 80.0 ns/exit"`)
	var progress bytes.Buffer
	rep, err := RunIOExit(context.Background(), IOExitOptions{Hull: fakeIOLoopHull(t, dir), Guest: guest, N: 5000,
		CBaseline: c, Rounds: 2, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hull.N != 2 || rep.Hull.P50 != 100 || rep.C.P50 != 80 || rep.Ratio != 1.25 {
		t.Errorf("hull %+v, C %+v, ratio %v; want 100, 80, 1.25", rep.Hull, rep.C, rep.Ratio)
	}
	if strings.Count(progress.String(), "\n") != 2 {
		t.Errorf("progress:\n%s", progress.String())
	}
	var out bytes.Buffer
	if err := rep.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hull vCPU loop             100.0 ns     100.0 ns     100.0 ns",
		"C loop (ioexit.c)           80.0 ns      80.0 ns      80.0 ns",
		"hull/C, P50: 1.25 (target <= 1.3: met)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunIOExitWithoutC(t *testing.T) {
	dir := t.TempDir()
	guest := script(t, dir, "ioloop.elf", "")
	rep, err := RunIOExit(context.Background(), IOExitOptions{Hull: fakeIOLoopHull(t, dir), Guest: guest, N: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ratio != 0 || rep.C.N != 0 || rep.Hull.P50 != 100 {
		t.Errorf("report %+v", rep)
	}
	var out bytes.Buffer
	_ = rep.Format(&out)
	if !strings.Contains(out.String(), "no ratio (no --c-baseline)") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestRunIOExitGuestFailure(t *testing.T) {
	dir := t.TempDir()
	guest := script(t, dir, "ioloop.elf", "")
	hull := script(t, dir, "hull", `echo "ioloop: bad n= on the command line"; exit 2`)
	_, err := RunIOExit(context.Background(), IOExitOptions{Hull: hull, Guest: guest, N: 10})
	if err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "| ioloop: bad n=") {
		t.Errorf("err = %v", err)
	}
}

func TestParseCBaseline(t *testing.T) {
	if v, err := parseCBaseline("ioexit-c: 200000 exits, 1234.5 ns/exit\n", 200000); err != nil || v != 1234.5 {
		t.Errorf("got %v, %v", v, err)
	}
	if _, err := parseCBaseline("ioexit-c: 10 exits, 1.0 ns/exit\n", 20); err == nil {
		t.Error("wrong exit count accepted")
	}
	if _, err := parseCBaseline("ioexit-c: open /dev/kvm: No such file or directory\n", 20); err == nil {
		t.Error("missing figure accepted")
	}
}
