// Command hull is a KVM microVM monitor and an OCI runtime: one
// binary, one verb per file (STYLE 2.15). Each verb parses its flags, calls
// the package that does the work and prints the result; errors are one line
// on stderr and a non-zero exit status, never a panic trace.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hullvm/hull/agent"
	"github.com/hullvm/hull/agent/container"
	"github.com/hullvm/hull/agent/seccomp"
	"github.com/hullvm/hull/runtime"
	"github.com/hullvm/hull/vmsandbox"
)

// processStart is the zero of every timeline this process prints.
var processStart = time.Now()

type command struct {
	name    string
	summary string
	run     func(args []string) int
	hidden  bool // internal: not listed in the usage
}

var commands []command

func register(c command) { commands = append(commands, c) }

const (
	exitUsage = 2
	exitError = 1
)

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: hull <command> [arguments]\n\ncommands:\n")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun 'hull <command> --help' for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// The internal verbs come first and alone: a container's init must do
	// nothing else before it takes over.
	if len(args) > 0 {
		switch args[0] {
		case initCommand:
			container.Seccomp = seccomp.Install
			container.InitMain() // never returns
		case runtime.VMSandboxCommand:
			return vmsandbox.Main(args[1:])
		case runtime.VMRelayCommand:
			return runtime.RelayMain(args[1:])
		case runtime.AgentCommand:
			return agent.ProcessSandboxMain(args[1:], []string{"/proc/self/exe", initCommand})
		}
	}
	args, err := parseGlobals(args)
	if err != nil {
		return fail(exitUsage, "%v (see 'hull --help')", err)
	}
	if len(args) == 0 {
		usage(os.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "hull: unknown command %q (see 'hull --help')\n", args[0])
	return exitUsage
}

// initCommand is the internal verb of a container's init half
// (agent/container): the agent re-executes hull with it.
const initCommand = "__init"

// fail prints one line to stderr and returns the status to exit with.
func fail(code int, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "hull: "+format+"\n", a...)
	return code
}

// parseFlags parses a verb's flags; the int is the exit status when the
// caller should return (help or a usage error), -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return 0
	case err != nil:
		return fail(exitUsage, "%s: %v (see 'hull %s --help')", fs.Name(), err, fs.Name())
	}
	return -1
}
