// Package guestimage builds and finds hull's default guest image
// (DESIGN.md §5): the guest kernel (an ELF vmlinux from guest/kernel.config,
// built and cached by guest/build-kernel.sh) and an initramfs holding
// hull-agent as /init plus a u-root busybox with a few commands for a debug
// shell (Commands).
//
// Build needs hull's source tree and a Go toolchain: it builds
// ./cmd/hull-agent (static, CGO_ENABLED=0) and the busybox with
// `go tool u-root`, pinned by go.mod. Everything is cached under
// $HULL_CACHE (default ~/.cache/hull):
//
//	kernel-<key>/   vmlinux, config, info      (guest/build-kernel.sh)
//	uroot-<key>/    bb.cpio                    the busybox; key: commands, their module versions, Go version
//	image-<key>/    vmlinux (hard link), initrd, image.json; key: kernel, agent sources, busybox
//	image-default   -> image-<key>             what Default returns
//
// With nothing changed, Build only recomputes the keys (two `go list`
// calls: 0.25 s measured). The initramfs is written by package initramfs
// and u-root's busybox build is reproducible, so two builds from the same
// inputs are byte-identical. The cache keeps the 3 most recently used
// images and 2 busyboxes.
//
// CheckKernelConfig is the test that Kconfig kept every line of the
// fragment (it drops options whose parent menu is off, silently).
package guestimage
