package i8042

import (
	"bytes"
	"encoding/gob"
	"testing"
)

// TestStateRoundTrip: a controller in the middle of a command (a byte in
// the output buffer, a command waiting for its data byte) is saved and
// restored into a new one, which then answers as the old one would.
func TestStateRoundTrip(t *testing.T) {
	orig := newEnv()
	orig.command(t, cmdWriteCTR, []byte{ctrSYS | ctrKBDDIS}, 0)
	orig.out(offCommand, cmdAuxDisable)
	orig.out(offCommand, cmdCtlTest) // 0x55 waits in the output buffer
	orig.out(offCommand, cmdWriteOutPort)
	// ... and its data byte is still to come.

	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(orig.c.State()); err != nil {
		t.Fatal(err)
	}
	var s State
	if err := gob.NewDecoder(&b).Decode(&s); err != nil {
		t.Fatal(err)
	}
	restored := newEnv()
	if err := restored.c.SetState(s); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*env{orig, restored} {
		if st := e.in(offCommand); st&(strOBF|strCMDDAT|strSYSFLAG) != strOBF|strCMDDAT|strSYSFLAG {
			t.Fatalf("status %#x", st)
		}
		if v := e.in(offData); v != ctlTestOK {
			t.Fatalf("output buffer %#x", v)
		}
		e.out(offData, outPortA20) // the pending 0xd1's data byte: pulls reset (bit 0 clear)
		if e.resets != 1 {
			t.Fatalf("%d resets after the pending output-port write", e.resets)
		}
		if got := e.command(t, cmdReadCTR, nil, 1); got[0] != ctrSYS|ctrKBDDIS|ctrAUXDIS {
			t.Fatalf("command byte %#x", got[0])
		}
	}
}

func TestSetStateRejects(t *testing.T) {
	e := newEnv()
	before := e.c.State()
	for _, s := range []State{
		{Version: 0},
		{Version: StateVersion, Pending: cmdCtlTest},
	} {
		if err := e.c.SetState(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if e.c.State() != before {
		t.Error("a refused state changed the controller")
	}
}
