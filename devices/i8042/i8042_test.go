package i8042

import (
	"bytes"
	"testing"
)

type env struct {
	c      *I8042
	resets int
}

func newEnv() *env {
	e := &env{}
	e.c = New(func() { e.resets++ })
	return e
}

func (e *env) in(off uint64) byte {
	b := []byte{0}
	e.c.Read(off, b)
	return b[0]
}

func (e *env) out(off uint64, v byte) { e.c.Write(off, []byte{v}) }

// command is Linux's __i8042_command: wait for IBF clear, write the command,
// write its parameters, then wait for OBF and read each answer byte. It
// fails the test where Linux would time out.
func (e *env) command(t *testing.T, cmd byte, params []byte, answers int) []byte {
	t.Helper()
	if e.in(offCommand)&strIBF != 0 {
		t.Fatalf("command %#x: IBF set, Linux would time out", cmd)
	}
	e.out(offCommand, cmd)
	for _, p := range params {
		e.out(offData, p)
	}
	var got []byte
	for range answers {
		if e.in(offCommand)&strOBF == 0 {
			t.Fatalf("command %#x: no answer (OBF clear), Linux would time out", cmd)
		}
		got = append(got, e.in(offData))
	}
	return got
}

// TestLinuxProbe follows drivers/input/serio/i8042.c with i8042.noaux
// i8042.nokbd: flush, controller self-test, read the command byte until two
// reads agree, write it back.
func TestLinuxProbe(t *testing.T) {
	e := newEnv()
	// i8042_flush: drain while OBF; a controller that never empties is "not found".
	for n := 0; e.in(offCommand)&strOBF != 0; n++ {
		if n == 16 { // I8042_BUFFER_SIZE
			t.Fatal("flush never ends: Linux reports no controller")
		}
		e.in(offData)
	}
	if got := e.command(t, cmdCtlTest, nil, 1); got[0] != ctlTestOK {
		t.Fatalf("self-test answered %#x", got[0])
	}
	ctr := e.command(t, cmdReadCTR, nil, 1)[0]
	if again := e.command(t, cmdReadCTR, nil, 1)[0]; again != ctr {
		t.Fatalf("CTR reads differ: %#x, %#x", ctr, again)
	}
	if e.in(offCommand)&strKEYLOCK == 0 {
		t.Error("keylock active")
	}
	ctr |= ctrKBDDIS | ctrAUXDIS
	ctr &^= ctrKBDINT
	e.command(t, cmdWriteCTR, []byte{ctr}, 0)
	if got := e.command(t, cmdReadCTR, nil, 1)[0]; got != ctr {
		t.Fatalf("CTR = %#x after writing %#x", got, ctr)
	}
	if e.in(offCommand)&strOBF != 0 {
		t.Fatal("stray output")
	}
	if s := e.c.Stats(); s.Ignored != 0 || e.resets != 0 {
		t.Fatalf("probe: Stats = %+v, %d resets", s, e.resets)
	}
}

func TestCommands(t *testing.T) {
	e := newEnv()
	if got := e.command(t, cmdKbdTest, nil, 1); got[0] != kbdTestOK {
		t.Errorf("keyboard test: %#x", got[0])
	}
	e.command(t, cmdKbdDisable, nil, 0)
	e.command(t, cmdAuxDisable, nil, 0)
	if ctr := e.command(t, cmdReadCTR, nil, 1)[0]; ctr&(ctrKBDDIS|ctrAUXDIS) != ctrKBDDIS|ctrAUXDIS {
		t.Errorf("CTR %#x after disabling both ports", ctr)
	}
	e.command(t, cmdKbdEnable, nil, 0)
	e.command(t, cmdAuxEnable, nil, 0)
	if ctr := e.command(t, cmdReadCTR, nil, 1)[0]; ctr&(ctrKBDDIS|ctrAUXDIS) != 0 {
		t.Errorf("CTR %#x after enabling both ports", ctr)
	}
	e.command(t, cmdWriteOutPort, []byte{0xdf}, 0) // A20 on, reset line high
	if got := e.command(t, cmdReadOutPort, nil, 1)[0]; got != 0xdf {
		t.Errorf("output port %#x", got)
	}
	// The system flag follows the command byte.
	e.command(t, cmdWriteCTR, []byte{0}, 0)
	if e.in(offCommand)&strSYSFLAG != 0 {
		t.Error("SYS flag set with CTR 0")
	}
	// CMD/DATA tells which port was written last.
	if e.in(offCommand)&strCMDDAT != 0 {
		t.Error("CMD/DATA set after a data write")
	}
	e.out(offCommand, cmdKbdEnable)
	if e.in(offCommand)&strCMDDAT == 0 {
		t.Error("CMD/DATA clear after a command write")
	}
	if e.resets != 0 || e.c.Stats().Ignored != 0 {
		t.Fatalf("%d resets, Stats %+v", e.resets, e.c.Stats())
	}
}

func TestReset(t *testing.T) {
	tests := []struct {
		name   string
		writes [][2]byte // {offset, value}
		resets int
	}{
		{"0xfe", [][2]byte{{offCommand, 0xfe}}, 1},
		{"0xfe twice", [][2]byte{{offCommand, 0xfe}, {offCommand, 0xfe}}, 2},
		{"pulse with other lines", [][2]byte{{offCommand, 0xf0}}, 1},
		{"pulse without reset", [][2]byte{{offCommand, 0xff}, {offCommand, 0xfd}}, 0},
		{"output port bit 0 clear", [][2]byte{{offCommand, cmdWriteOutPort}, {offData, 0xde}}, 1},
		{"output port bit 0 set", [][2]byte{{offCommand, cmdWriteOutPort}, {offData, 0xdf}}, 0},
		{"0xfe on the data port", [][2]byte{{offData, 0xfe}}, 0},
		{"command cancels pending write", [][2]byte{{offCommand, cmdWriteOutPort}, {offCommand, cmdKbdEnable}, {offData, 0x00}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			// Linux's kb_wait before the reset command: IBF must read clear.
			if e.in(offCommand)&strIBF != 0 {
				t.Fatal("IBF set")
			}
			for _, w := range tt.writes {
				e.out(uint64(w[0]), w[1])
			}
			if e.resets != tt.resets || e.c.Stats().Resets != uint64(tt.resets) {
				t.Fatalf("%d resets (Stats %+v), want %d", e.resets, e.c.Stats(), tt.resets)
			}
		})
	}
}

func TestNilReset(t *testing.T) {
	c := New(nil)
	c.Write(offCommand, []byte{cmdResetCPU})
	if c.Stats().Resets != 1 {
		t.Fatal("reset not counted")
	}
}

func TestIgnored(t *testing.T) {
	e := newEnv()
	n := uint64(0)
	e.out(offCommand, 0x12) // unknown command
	e.out(offData, 0xff)    // keyboard reset, no keyboard
	n += 2
	if e.in(offCommand)&strOBF != 0 {
		t.Error("an ignored byte produced output")
	}
	for _, off := range []uint64{1, 2, 3, 5, 0x1000, ^uint64(0)} {
		if e.in(off) != 0xff {
			t.Errorf("read at %#x not 0xff", off)
		}
		e.out(off, cmdResetCPU)
		n += 2
	}
	for _, size := range []int{0, 2, 4, 9, 4096} {
		data := bytes.Repeat([]byte{0}, size)
		e.c.Read(offCommand, data)
		if !bytes.Equal(data, bytes.Repeat([]byte{0xff}, size)) {
			t.Errorf("%d-byte read not 0xff", size)
		}
		e.c.Write(offCommand, bytes.Repeat([]byte{cmdResetCPU}, size))
		n += 2
	}
	if e.resets != 0 {
		t.Fatal("a bad access reset the machine")
	}
	if got := e.c.Stats().Ignored; got != n {
		t.Fatalf("Ignored = %d, want %d", got, n)
	}
}
