package boot

import (
	"fmt"
	"strings"

	"github.com/hullvm/hull/guestmem"
)

// checkCmdline reports whether cmdline can be passed to the kernel intact.
func checkCmdline(cmdline string) error {
	if len(cmdline) > CmdlineMax-1 {
		return fmt.Errorf("%w: %d bytes, the limit is %d (Linux's COMMAND_LINE_SIZE %d less the NUL)",
			ErrCmdlineTooLong, len(cmdline), CmdlineMax-1, CmdlineMax)
	}
	if i := strings.IndexByte(cmdline, 0); i >= 0 {
		return fmt.Errorf("%w: NUL byte at offset %d would end it early", ErrBadCmdline, i)
	}
	return nil
}

// writeCmdline writes cmdline, NUL-terminated, at CmdlineAddr and clears the
// rest of the CmdlineMax buffer.
func writeCmdline(mem *guestmem.Memory, cmdline string) error {
	if err := checkCmdline(cmdline); err != nil {
		return err
	}
	buf, err := mem.Slice(CmdlineAddr, CmdlineMax)
	if err != nil {
		return fmt.Errorf("command line: %w", err)
	}
	clear(buf[copy(buf, cmdline):])
	return nil
}
