// Package kvmtests is hull's kvm tier (DESIGN.md §6): tests that boot real
// VMs through vmm.Run, so they need a usable /dev/kvm — a healthy host or
// the nested runner (tests/nested). Each test skips with one line where KVM
// or an input is missing; `make test-kvm` sets HULL_REQUIRE_KVM=1 so that
// they fail instead.
//
// Inputs, from the environment:
//
//	HULL_TEST_GUESTS  directory with the freestanding guests <name>.elf
//	                  (make -C tests/guest); default ../guest/build
//	HULL_TEST_KERNEL  guest vmlinux for the Linux boot tests
//	HULL_TEST_INIT    static hello-init binary (tests/guest/hello-init)
//	HULL_BIN          hull binary for the `hull vm boot` tests
//	HULL_TEST_IMAGE_KERNEL, HULL_TEST_IMAGE_INITRD  the default guest image
//	                  (hull image build prints both paths) for TestAgentBoot
//	HULL_TEST_KERNEL_ARGS  extra kernel parameters for the Linux boots
//	                  (e.g. the clearcpuid= list a PVM host needs, DESIGN.md §4)
//
// Typical use, building on the host and running inside the nested runner:
//
//	make -C tests/guest
//	go test -c -o bin/kvmtests.test ./tests/kvm
//	tests/nested/nested-kvm -- sh -c 'cd tests/kvm && ../../bin/kvmtests.test -test.v'
//	go test -run '^$' -bench IOExitGuest ./tests/kvm   # I/O-exit round trip
package kvmtests
