// Package initramfs writes reproducible newc cpio archives, the format the
// Linux kernel unpacks into its initial root file system, on top of u-root's
// pkg/cpio. Build the same files and you get the same bytes: entries are
// sorted by path, missing parent directories are added, and every entry has
// mtime 0, uid and gid 0 and an inode number taken from its position.
//
//	init, err := os.ReadFile("bin/hello-init") // a static binary
//	if err != nil { ... }
//	f, err := os.Create("initrd.cpio.gz")
//	if err != nil { ... }
//	err = initramfs.Write(f, initramfs.Minimal(init), initramfs.Options{Gzip: true})
//	if cerr := f.Close(); err == nil {
//		err = cerr
//	}
//
// Read parses an archive back (gzip or not) with its own newc parser, so
// tests can check an archive against an independent reader; guestimage uses
// it to take in the busybox archive u-root writes.
//
// Minimal gives /init plus the nodes and mount points a Go init needs before
// it can mount anything: /dev/console (so the kernel can open the console
// for init), /dev/null, /proc, /sys and /tmp. Add more File values for
// anything else; a directory is a File whose Mode has os.ModeDir.
package initramfs
