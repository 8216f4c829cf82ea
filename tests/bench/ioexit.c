/*
 * ioexit: the C baseline for hull's I/O-exit round trip (hull bench ioexit).
 *
 * Opens /dev/kvm, creates a VM with 64 KiB of guest memory and one vCPU in
 * real mode at 0x0000:0x1000 running
 *
 *     1000: ba f5 00    mov  dx, 0xf5
 *     1003: ee       l: out  dx, al
 *     1004: eb fd       jmp  l
 *
 * and loops N times over KVM_RUN, handling each KVM_EXIT_IO (port 0xf5, out)
 * and retrying EINTR/EAGAIN. Prints "ioexit-c: N exits, X ns/exit" (the
 * wall time of the N round trips, first KVM_RUN excluded: it faults the
 * guest page in). Usage: ioexit [N] (default 200000). Exit status 0 on
 * success, 1 on any failure (one line on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE  0x10000
#define CODE_ADDR 0x1000
#define PORT      0xf5

static const uint8_t code[] = {
	0xba, 0xf5, 0x00, /* mov dx, 0xf5 */
	0xee,             /* l: out dx, al */
	0xeb, 0xfd,       /* jmp l */
};

static void die(const char *what)
{
	fprintf(stderr, "ioexit-c: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void dief(const char *msg)
{
	fprintf(stderr, "ioexit-c: %s\n", msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * run_once enters the guest until it leaves with one I/O exit (signals and
 * KVM_EXIT_INTR just enter again) and handles that exit.
 */
static void run_once(int vcpu, struct kvm_run *run)
{
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason != KVM_EXIT_INTR)
			break;
	}
	if (run->exit_reason != KVM_EXIT_IO) {
		fprintf(stderr, "ioexit-c: unexpected exit reason %u\n", run->exit_reason);
		exit(1);
	}
	if (run->io.port != PORT || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1) {
		fprintf(stderr, "ioexit-c: unexpected I/O exit: port %#x direction %u size %u count %u\n",
		        run->io.port, run->io.direction, run->io.size, run->io.count);
		exit(1);
	}
	/* Handle the write as a device would: read the byte the guest wrote. */
	volatile uint8_t v = *((uint8_t *)run + run->io.data_offset);
	(void)v;
}

int main(int argc, char **argv)
{
	long n = 200000;
	if (argc > 2)
		dief("usage: ioexit [N]");
	if (argc == 2) {
		char *end;
		errno = 0;
		n = strtol(argv[1], &end, 10);
		if (errno || *end || end == argv[1] || n < 1)
			dief("N must be a positive integer");
	}

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		dief("unexpected KVM API version");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");

	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy(mem + CODE_ADDR, code, sizeof code);
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	/* Warm up: the first entry faults the code page in. */
	run_once(vcpu, run);

	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++)
		run_once(vcpu, run);
	uint64_t dt = now_ns() - t0;

	printf("ioexit-c: %ld exits, %.1f ns/exit\n", n, (double)dt / (double)n);
	return 0;
}
