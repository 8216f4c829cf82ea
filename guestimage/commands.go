package guestimage

// URootCommands is the import-path prefix of Commands.
const URootCommands = "github.com/u-root/u-root/cmds/core/"

// Commands are the u-root commands of the default image's debug shell
// (hull.agent.shell=1), built into one busybox binary, /bbin/bb, with a
// symlink per command in /bbin and /bin/sh -> gosh. Every one must also be
// imported by tools.go, so that go.mod records its dependencies (a test
// checks this); otherwise the busybox build cannot resolve them.
var Commands = []string{
	"cat", "cp", "df", "dmesg", "echo", "find", "free", "gosh", "grep", "head",
	"hexdump", "hostname", "ip", "kill", "ln", "ls", "mkdir", "mount", "mv", "ps",
	"pwd", "rm", "sleep", "tail", "umount", "uname", "uptime", "wc",
}

// Shell is the command /bin/sh links to.
const Shell = "gosh"
