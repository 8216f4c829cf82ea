package hostcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Item is one line of the report.
type Item struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	OK    bool   `json:"ok"`
	Note  string `json:"note,omitempty"`
	// Optional items (TAP, vhost devices) do not affect the verdict.
	Optional bool `json:"optional,omitempty"`
}

// ProbeResult holds the guest probes' measurements.
type ProbeResult struct {
	CPL0NsPerIter  float64 `json:"cpl0_ns_per_iter"`
	CPL3NsPerIter  float64 `json:"cpl3_ns_per_iter"`
	CPL0Iters      uint32  `json:"cpl0_iters"`
	CPL3Iters      uint32  `json:"cpl3_iters"`
	KernelEmulated bool    `json:"kernel_emulated"`
	SyscallWorks   bool    `json:"syscall_works"`
	// SyscallExit is the exit the SYSCALL probe ended with
	// ("KVM_EXIT_IO port 0x510", "KVM_EXIT_SHUTDOWN").
	SyscallExit string `json:"syscall_exit"`
}

// Report is the outcome of Run.
type Report struct {
	Items   []Item       `json:"items"`
	Verdict Verdict      `json:"verdict"`
	Line    string       `json:"verdict_line"`
	Probes  *ProbeResult `json:"probes,omitempty"` // nil when the probes did not run
}

// VerdictLine is the one-line summary: the verdict and why.
func (r *Report) VerdictLine() string { return r.Line }

// ExitCode is the exit status for `hull check`: 0 healthy, 1 no or broken
// KVM, 2 emulated.
func (r *Report) ExitCode() int { return r.Verdict.ExitCode() }

// status is the first column of a table row.
func (it Item) status() string {
	switch {
	case it.OK:
		return "ok"
	case it.Optional:
		return "--"
	default:
		return "FAIL"
	}
}

// Format writes the items as an aligned table followed by the verdict line.
func (r *Report) Format(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, it := range r.Items {
		note := ""
		if it.Note != "" {
			note = "\t" + oneLine(it.Note)
		}
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s%s\n", it.status(), oneLine(it.Name), oneLine(it.Value), note); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Line)
	return err
}

// oneLine keeps a table cell on one line without tabs.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
}

// JSON returns the report as indented JSON, exit code included.
func (r *Report) JSON() ([]byte, error) {
	return json.MarshalIndent(struct {
		*Report
		ExitCode int `json:"exit_code"`
	}{r, r.ExitCode()}, "", "  ")
}
