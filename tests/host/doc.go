// Package hosttests is hull's host tier for the guest image (DESIGN.md §6):
// tests that need root and host tools but no KVM. Here: the default guest
// image (kernel + initramfs with hull-agent as /init) boots under QEMU in
// software emulation, independently of hull's VMM.
//
// Inputs, from the environment (make test-host sets them after building the
// image; without them the tests use guestimage.Default()):
//
//	HULL_TEST_IMAGE_KERNEL  the image's vmlinux
//	HULL_TEST_IMAGE_INITRD  the image's initramfs
package hosttests
