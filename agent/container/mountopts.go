package container

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountOptions is a mount's options list (config.md "mounts", with
// runc's vocabulary) sorted into what each system call takes.
type mountOptions struct {
	flags       uintptr   // mount(2) flags: MS_RDONLY, MS_NOSUID, ..., MS_BIND|MS_REC
	propagation []uintptr // MS_PRIVATE, MS_SHARED, ... (|MS_REC), each applied after the mount
	attrSet     uint64    // mount_setattr(AT_RECURSIVE) for the recursive r* options
	attrClr     uint64
	data        []string // the rest, for the file system (mode=755, size=64m, ...)
}

func (o mountOptions) isBind() bool { return o.flags&unix.MS_BIND != 0 }

// BindMount reads m as Create does: whether it is a bind mount (type
// "bind", or "bind"/"rbind" among its options), recursive ("rbind") and
// read-only (the last of "ro" and "rw"); an option Create refuses is the
// error. The vm sandbox uses it to find the binds it serves from the host.
func BindMount(m specs.Mount) (bind, recursive, readonly bool, err error) {
	o, err := parseMountOptions(m.Options)
	if err != nil {
		return false, false, false, err
	}
	bind = o.isBind() || m.Type == "bind"
	return bind, bind && o.flags&unix.MS_REC != 0, o.flags&unix.MS_RDONLY != 0, nil
}
func (o mountOptions) isRecursive() bool { return o.attrSet != 0 || o.attrClr != 0 }

// flagsAfterBind are the flags a bind mount needs a remount to apply:
// mount(MS_BIND) ignores all but MS_REC.
func (o mountOptions) flagsAfterBind() uintptr {
	return o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
}

// mountFlag: an option that sets (clear false) or clears a mount(2) flag.
type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"shared":      unix.MS_SHARED,
	"slave":       unix.MS_SLAVE,
	"unbindable":  unix.MS_UNBINDABLE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveAttrs are runc's recursive options, applied with
// mount_setattr(2) to the mount and everything under it.
var recursiveAttrs = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// parseMountOptions sorts a mount's options. Later options override
// earlier ones ("ro,rw" is rw). Unknown options go to the file system as
// data; the few runc extensions this package lacks are refused by name.
func parseMountOptions(opts []string) (mountOptions, error) {
	var o mountOptions
	for _, opt := range opts {
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if a, ok := recursiveAttrs[opt]; ok {
			if a.clear {
				o.attrSet &^= a.attr
				o.attrClr |= a.attr
			} else {
				o.attrClr &^= a.attr
				o.attrSet |= a.attr
			}
			// The access-time attributes are one field: changing it
			// needs the whole field in attr_clr (mount_setattr(2)).
			if a.attr&unix.MOUNT_ATTR__ATIME == a.attr {
				o.attrClr |= unix.MOUNT_ATTR__ATIME
			}
			continue
		}
		switch opt {
		case "idmap", "ridmap":
			return mountOptions{}, unsupported("mount option %q (idmapped mounts)", opt)
		case "tmpcopyup":
			return mountOptions{}, unsupported("mount option %q", opt)
		}
		o.data = append(o.data, opt)
	}
	return o, nil
}

// parsePropagation reads linux.rootfsPropagation.
func parsePropagation(s string) (uintptr, bool) {
	p, ok := propagationFlags[s]
	return p, ok
}

func (o mountOptions) dataString() string { return strings.Join(o.data, ",") }

// lockedFlags maps statfs(2) f_flags to the mount flags a bind remount
// must keep: in a user namespace the kernel refuses to clear the
// nosuid, nodev, noexec and atime flags of a mount from a more privileged
// one (runc's remount-with-statfs retry).
func lockedFlags(statfsFlags int64) uintptr {
	var f uintptr
	pairs := []struct {
		st int64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	}
	for _, p := range pairs {
		if statfsFlags&p.st != 0 {
			f |= p.ms
		}
	}
	return f
}
