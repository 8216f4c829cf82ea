/*
 * virtiohostile: a hostile virtio-blk driver. Against disk 0 (labelled as
 * for virtioblk: "hull virtio-blk test disk" in sector 0) it
 *
 *   1. enables a queue whose descriptor table lies in the MMIO gap (not
 *      RAM): DRIVER_OK must leave the device in DEVICE_NEEDS_RESET;
 *   2. after a reset and a correct setup, posts a read whose data buffer
 *      lies far outside guest RAM, and one whose address + length wraps
 *      around 2^64: each chain must come back with used length 0, its
 *      status byte untouched, the device still running;
 *   3. posts a descriptor loop (13 -> 14 -> 13, both device-writable):
 *      used length 0 as well;
 *   4. reads sector 0 correctly: the device still serves;
 *   5. publishes an available-ring entry naming descriptor 200 of a
 *      16-entry queue: the ring is garbage, the device must set
 *      DEVICE_NEEDS_RESET (and raise a configuration interrupt);
 *   6. resets, sets the device up again and reads sector 0: recovered.
 *
 * The VMM must stay up through all of it (the guest ends through the exit
 * port). Output (tests/guest/guesttest VirtioHostileOutput):
 *
 *	virtiohostile: rings outside RAM: NEEDS_RESET
 *	virtiohostile: buffer outside RAM: chain returned empty
 *	virtiohostile: wrapping buffer: chain returned empty
 *	virtiohostile: descriptor loop: chain returned empty
 *	virtiohostile: device still serves
 *	virtiohostile: bad ring entry: NEEDS_RESET
 *	virtiohostile: reset and recovered
 *
 * Exit codes, one per failure:
 */
#include "lib.h"
#include "virtio.h"
#include "virtio_blk.h"

enum {
	E_OK = 0,
	E_NODEV = 1,       /* no virtio-blk device on the command line */
	E_FEATURES = 2,    /* FEATURES_OK refused */
	E_QUEUE = 3,       /* queue 0 could not be set up */
	E_DRIVER_OK = 4,   /* DRIVER_OK refused or NEEDS_RESET on a good setup */
	E_BAD_RINGS = 5,   /* rings outside RAM did not give NEEDS_RESET */
	E_TIMEOUT = 6,     /* a chain never came back */
	E_OUTSIDE = 7,     /* an out-of-RAM buffer was not refused cleanly */
	E_LOOP = 8,        /* the descriptor loop was not refused cleanly */
	E_SERVE = 9,       /* a good read after the bad chains failed */
	E_BAD_HEAD = 10,   /* a bad ring entry did not give NEEDS_RESET */
	E_RECOVER = 11,    /* no good read after the reset */
	E_NEEDS_RESET = 12, /* NEEDS_RESET after a bad chain (one chain must not break the device) */
};

#define LABEL       "hull virtio-blk test disk"
#define MMIO_GAP    0xd0000000UL     /* inside hull's MMIO gap, not RAM */
#define FAR_AWAY    0x4000000000ULL  /* 256 GiB: beyond any test VM's RAM */
#define LOOP_A      13               /* descriptors the loop uses (vq_add takes 0, 1, 2, ...) */
#define LOOP_B      14

static struct vq_mem qmem;
static struct virtq q;
static struct virtio_blk_outhdr hdr __attribute__((aligned(16)));
static volatile uint8_t status;
static uint8_t buf[SECTOR_SIZE] __attribute__((aligned(512)));

static int needs_reset(const struct vdev *d)
{
	return (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET) != 0;
}

/* wait_needs_reset polls the status for DEVICE_NEEDS_RESET (the device
 * sets it from its queue worker). */
static int wait_needs_reset(const struct vdev *d)
{
	uint64_t start = rdtsc();
	while (!needs_reset(d)) {
		if (rdtsc() - start > VQ_TIMEOUT_TICKS)
			return -1;
		__asm__ volatile("pause");
	}
	return 0;
}

/* setup resets the device and brings it up with queue 0. */
static uint32_t setup(struct vdev *d)
{
	if (vdev_init(d) < 0)
		return E_FEATURES;
	if (vq_init(d, &q, 0, &qmem) < 0)
		return E_QUEUE;
	if (vdev_driver_ok(d) < 0)
		return E_DRIVER_OK;
	return E_OK;
}

/* read_label reads sector 0 and checks the label. */
static int read_label(void)
{
	memset(buf, 0, sizeof(buf));
	struct vbuf b = {buf, SECTOR_SIZE, 1};
	if (blk_request(&q, VIRTIO_BLK_T_IN, 0, &b, 1, SECTOR_SIZE + 1) != VIRTIO_BLK_S_OK)
		return -1;
	return memcmp(buf, LABEL, strlen(LABEL)) == 0 ? 0 : -1;
}

/* refused waits for chain head and checks that it came back with used
 * length 0, the status byte untouched and the device not broken. */
static uint32_t refused(const struct vdev *d, int head, uint32_t code, const char *what)
{
	uint32_t id, len;
	if (head < 0)
		return code;
	if (vq_wait(&q, &id, &len) < 0)
		return E_TIMEOUT;
	if (id != (uint32_t)head || len != 0 || status != 0xff) {
		print("virtiohostile: ");
		print(what);
		print(": used id ");
		put_dec(id);
		print(" len ");
		put_dec(len);
		print(" status ");
		put_dec(status);
		putc('\n');
		return code;
	}
	if (needs_reset(d))
		return E_NEEDS_RESET;
	print("virtiohostile: ");
	print(what);
	puts(": chain returned empty");
	return E_OK;
}

/* bad_read posts a read of sector 0 into [addr, addr+len). */
static int bad_read(uint64_t addr, uint32_t len)
{
	hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN, .sector = 0};
	status = 0xff;
	struct vbuf b[3] = {
		{&hdr, sizeof(hdr), 0},
		{(const volatile void *)(uintptr_t)addr, len, 1},
		{&status, 1, 1},
	};
	return vq_add(&q, b, 3);
}

uint32_t guest_main(const uint8_t *bp)
{
	struct vdev d;
	uint32_t e;

	if (virtio_find(boot_cmdline(bp), VIRTIO_ID_BLOCK, 0, &d) < 0) {
		puts("virtiohostile: no virtio-blk device on the command line");
		return E_NODEV;
	}

	/* 1. A descriptor table in the MMIO gap. */
	if (vdev_init(&d) < 0)
		return E_FEATURES;
	if (vq_init(&d, &q, 0, &qmem) < 0)
		return E_QUEUE;
	vdev_write(&d, VIRTIO_MMIO_QUEUE_READY, 0); /* vq_init enabled it: reprogram */
	vdev_write(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)MMIO_GAP);
	vdev_write(&d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vdev_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	vdev_write(&d, VIRTIO_MMIO_STATUS, vdev_status(&d) | VIRTIO_STATUS_DRIVER_OK);
	if (!needs_reset(&d))
		return E_BAD_RINGS;
	puts("virtiohostile: rings outside RAM: NEEDS_RESET");

	/* 2. Buffers outside RAM. */
	if ((e = setup(&d)) != E_OK)
		return e;
	if ((e = refused(&d, bad_read(FAR_AWAY, SECTOR_SIZE), E_OUTSIDE, "buffer outside RAM")) != E_OK)
		return e;
	if ((e = refused(&d, bad_read(0xfffffffffffffe00ULL, 0x400), E_OUTSIDE, "wrapping buffer")) != E_OK)
		return e;

	/* 3. A descriptor loop, written by hand: two device-writable
	 * descriptors naming each other, so only the chain-length bound (the
	 * queue size) can end the walk. */
	status = 0xff;
	volatile struct vring_desc *desc = qmem.desc;
	desc[LOOP_A] = (struct vring_desc){(uintptr_t)buf, SECTOR_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, LOOP_B};
	desc[LOOP_B] = (struct vring_desc){(uintptr_t)&status, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, LOOP_A};
	vq_publish(&q, LOOP_A);
	if ((e = refused(&d, LOOP_A, E_LOOP, "descriptor loop")) != E_OK)
		return e;

	/* 4. Still serving. */
	if (read_label() < 0)
		return E_SERVE;
	puts("virtiohostile: device still serves");

	/* 5. An available-ring entry beyond the queue. */
	vq_publish(&q, 200);
	if (wait_needs_reset(&d) < 0)
		return E_BAD_HEAD;
	uint32_t isr = vdev_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS);
	vdev_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	puts("virtiohostile: bad ring entry: NEEDS_RESET");

	/* 6. Reset and start over. */
	if ((e = setup(&d)) != E_OK)
		return e;
	if (read_label() < 0)
		return E_RECOVER;
	puts("virtiohostile: reset and recovered");
	return E_OK;
}
