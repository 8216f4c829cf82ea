package boot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWriteCmdline(t *testing.T) {
	mem := newLowMem(t)
	if err := mem.WriteAt([]byte(strings.Repeat("x", CmdlineMax)), CmdlineAddr); err != nil {
		t.Fatal(err)
	}
	const line = "console=ttyS0 panic=-1"
	if err := writeCmdline(mem, line); err != nil {
		t.Fatal(err)
	}
	got := readBytes(t, mem, CmdlineAddr, CmdlineMax)
	if string(got[:len(line)+1]) != line+"\x00" {
		t.Errorf("command line = %q", got[:len(line)+1])
	}
	if strings.Trim(string(got[len(line):]), "\x00") != "" {
		t.Error("rest of the buffer not cleared")
	}
	longest := strings.Repeat("a", CmdlineMax-1)
	if err := writeCmdline(mem, longest); err != nil {
		t.Fatalf("%d bytes: %v", len(longest), err)
	}
	if b := readBytes(t, mem, CmdlineAddr+CmdlineMax-1, 1); b[0] != 0 {
		t.Error("longest line not NUL-terminated")
	}
	if err := writeCmdline(mem, ""); err != nil {
		t.Fatal(err)
	}
	if b := readBytes(t, mem, CmdlineAddr, 1); b[0] != 0 {
		t.Error("empty line not NUL")
	}
}

func TestCmdlineRejects(t *testing.T) {
	mem := newLowMem(t)
	err := writeCmdline(mem, strings.Repeat("a", CmdlineMax))
	if !errors.Is(err, ErrCmdlineTooLong) || !strings.Contains(err.Error(), fmt.Sprintf("limit is %d", CmdlineMax-1)) {
		t.Errorf("too long: %v", err)
	}
	if err := writeCmdline(mem, "root=/dev/vda\x00init=/evil"); !errors.Is(err, ErrBadCmdline) || !strings.Contains(err.Error(), "offset 13") {
		t.Errorf("NUL: %v", err)
	}
}
