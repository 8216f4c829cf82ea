package vmm

import "fmt"

// Reason says why a VM stopped.
type Reason int

// Stop reasons. The zero value is not a valid reason.
const (
	ReasonPowerOff         Reason = iota + 1 // the guest powered off or halted for good
	ReasonReset                              // the guest asked for a reset (i8042 0xfe, KVM system event); hull does not reboot
	ReasonGuestExit                          // a test guest wrote its exit code to the exit port
	ReasonTripleFault                        // KVM_EXIT_SHUTDOWN: the guest triple-faulted
	ReasonEmulationFailure                   // KVM could not emulate an instruction
	ReasonInternalError                      // another KVM_EXIT_INTERNAL_ERROR or an unexpected exit
	ReasonGuestPanic                         // the guest reported a crash (KVM system event)
	ReasonFailEntry                          // KVM_EXIT_FAIL_ENTRY: the CPU refused the guest state
	ReasonCancelled                          // the host asked the VM to stop (signal, context)
	ReasonHostError                          // a host-side failure (KVM_RUN error, device backend)
)

var reasonNames = map[Reason]string{
	ReasonPowerOff:         "power off",
	ReasonReset:            "reset",
	ReasonGuestExit:        "guest exit",
	ReasonTripleFault:      "triple fault",
	ReasonEmulationFailure: "emulation failure",
	ReasonInternalError:    "internal error",
	ReasonGuestPanic:       "guest panic",
	ReasonFailEntry:        "entry failure",
	ReasonCancelled:        "cancelled",
	ReasonHostError:        "host error",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Process exit codes of `hull vm boot` for each stop reason. A guest exit
// passes the guest's code through (0-255, so test guests should keep below
// 64); the rest are distinct and above the range test guests use.
const (
	ExitCodeClean         = 0 // power off, reset
	ExitCodeSetup         = 1 // the VM could not be built (bad kernel, no KVM, ...)
	ExitCodeUsage         = 2 // bad command line
	ExitCodeTripleFault   = 70
	ExitCodeEmulation     = 71
	ExitCodeInternalError = 72
	ExitCodeGuestPanic    = 73
	ExitCodeFailEntry     = 74
	ExitCodeHostError     = 75
	ExitCodeCancelled     = 130 // as a shell reports SIGINT
)

// Exit is how a VM that ran stopped.
type Exit struct {
	Reason   Reason
	Code     int      // the exit-port code (ReasonGuestExit only)
	Message  string   // one line, e.g. "triple fault on vCPU 0 at RIP 0x1000f2"
	VCPU     int      // the vCPU that stopped the VM, -1 when the host did
	Timeline Timeline // what happened when, since the VMM process started
	Memory   MemStats // the VMM's memory when the VM stopped (zero if unreadable)
}

// ExitCode maps the stop to a process exit code.
func (e *Exit) ExitCode() int {
	switch e.Reason {
	case ReasonPowerOff, ReasonReset:
		return ExitCodeClean
	case ReasonGuestExit:
		return e.Code & 0xff
	case ReasonTripleFault:
		return ExitCodeTripleFault
	case ReasonEmulationFailure:
		return ExitCodeEmulation
	case ReasonGuestPanic:
		return ExitCodeGuestPanic
	case ReasonFailEntry:
		return ExitCodeFailEntry
	case ReasonCancelled:
		return ExitCodeCancelled
	case ReasonHostError:
		return ExitCodeHostError
	default:
		return ExitCodeInternalError
	}
}

func (e *Exit) String() string {
	if e.Message != "" {
		return e.Reason.String() + ": " + e.Message
	}
	return e.Reason.String()
}
