/*
 * virtioblk: drives virtio-blk disk 0 (the first virtio-mmio device with
 * DeviceID 2 on the command line) with the test guests' polling driver
 * (virtio.c). Disk 0 must hold at least 8 sectors and begin with the line
 * "hull virtio-blk test disk" (tests/kvm writes it). The guest
 *
 *   reads sector 0 and checks the label (host data reaches the guest),
 *   writes a pattern to sector 1, to sectors 2-3 (one request, two data
 *   descriptors) and to the last sector, then FLUSHes,
 *   reads sectors 1-3 back (one request) and the last sector, compares,
 *   reads one sector past the end and expects VIRTIO_BLK_S_IOERR,
 *   asks for the device ID (GET_ID) and prints it.
 *
 * Output (tests/guest/guesttest VirtioBlkOutput):
 *
 *	virtioblk: disk at 0xc0001000, <n> sectors
 *	virtioblk: sector 0: hull virtio-blk test disk
 *	virtioblk: wrote sectors 1-3 and <n-1>, flushed
 *	virtioblk: read back ok
 *	virtioblk: past the end: IOERR
 *	virtioblk: id <GET_ID string>
 *	virtioblk: done
 *
 * Byte i of sector s of the pattern is (s*37 + i*13 + (i>>8)*101 + 0x5a)
 * mod 256 (guesttest.BlkPattern). Exit codes, one per failure:
 */
#include "lib.h"
#include "virtio.h"
#include "virtio_blk.h"

enum {
	E_OK = 0,
	E_NODEV = 1,     /* no virtio-blk device on the command line */
	E_FEATURES = 2,  /* FEATURES_OK refused */
	E_QUEUE = 3,     /* queue 0 could not be set up */
	E_DRIVER_OK = 4, /* DRIVER_OK refused or NEEDS_RESET */
	E_SMALL = 5,     /* fewer than 8 sectors */
	E_TIMEOUT = 6,   /* a request never completed */
	E_USED = 7,      /* a used element for the wrong chain or of the wrong length */
	E_WRITE = 8,     /* a write's status was not OK */
	E_FLUSH = 9,     /* FLUSH's status was not OK */
	E_READ = 10,     /* a read's status was not OK */
	E_LABEL = 11,    /* sector 0 does not hold the label */
	E_COMPARE = 12,  /* what was read back differs from what was written */
	E_PAST_END = 13, /* a read past the end did not fail with IOERR */
	E_GET_ID = 14,   /* GET_ID's status was not OK */
};

#define LABEL "hull virtio-blk test disk"

static struct vq_mem qmem;
static struct virtq q;
static uint8_t wbuf[3][SECTOR_SIZE] __attribute__((aligned(512)));
static uint8_t rbuf[3 * SECTOR_SIZE] __attribute__((aligned(512)));
static char id[VIRTIO_BLK_ID_BYTES + 1];

static uint8_t pattern(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 37 + i * 13 + (i >> 8) * 101 + 0x5a);
}

static void fill(uint8_t *p, uint64_t sector)
{
	for (unsigned i = 0; i < SECTOR_SIZE; i++)
		p[i] = pattern(sector, i);
}

static int check(const uint8_t *p, uint64_t sector)
{
	for (unsigned i = 0; i < SECTOR_SIZE; i++) {
		if (p[i] != pattern(sector, i))
			return -1;
	}
	return 0;
}

/* fail maps a blk_request result that is not OK to an exit code. */
static uint32_t fail(int r, uint32_t code, const char *what)
{
	print("virtioblk: ");
	print(what);
	print(" failed: ");
	if (r == BLK_TIMEOUT) {
		puts("timeout");
		return E_TIMEOUT;
	}
	if (r == BLK_BAD_USED) {
		puts("bad used element");
		return E_USED;
	}
	print("status ");
	put_dec((uint64_t)r);
	putc('\n');
	return code;
}

uint32_t guest_main(const uint8_t *bp)
{
	struct vdev d;
	int r;

	if (virtio_find(boot_cmdline(bp), VIRTIO_ID_BLOCK, 0, &d) < 0) {
		puts("virtioblk: no virtio-blk device on the command line");
		return E_NODEV;
	}
	if (vdev_init(&d) < 0)
		return E_FEATURES;
	if (vq_init(&d, &q, 0, &qmem) < 0)
		return E_QUEUE;
	if (vdev_driver_ok(&d) < 0)
		return E_DRIVER_OK;
	uint64_t cap = vdev_config64(&d, VIRTIO_BLK_CFG_CAPACITY);
	print("virtioblk: disk at ");
	put_hex(d.base);
	print(", ");
	put_dec(cap);
	puts(" sectors");
	if (cap < 8)
		return E_SMALL;
	uint64_t last = cap - 1;

	/* Host data: the label in sector 0. */
	struct vbuf rd = {rbuf, SECTOR_SIZE, 1};
	if ((r = blk_request(&q, VIRTIO_BLK_T_IN, 0, &rd, 1, SECTOR_SIZE + 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_READ, "reading sector 0");
	size_t llen = strlen(LABEL);
	if (memcmp(rbuf, LABEL, llen) != 0 || rbuf[llen] != '\n') {
		puts("virtioblk: sector 0 does not hold the label");
		return E_LABEL;
	}
	print("virtioblk: sector 0: ");
	print_n((const char *)rbuf, llen);
	putc('\n');

	/* Writes: one sector; two sectors in two descriptors; the last one. */
	fill(wbuf[0], 1);
	struct vbuf w1 = {wbuf[0], SECTOR_SIZE, 0};
	if ((r = blk_request(&q, VIRTIO_BLK_T_OUT, 1, &w1, 1, 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_WRITE, "writing sector 1");
	fill(wbuf[1], 2);
	fill(wbuf[2], 3);
	struct vbuf w23[2] = {{wbuf[1], SECTOR_SIZE, 0}, {wbuf[2], SECTOR_SIZE, 0}};
	if ((r = blk_request(&q, VIRTIO_BLK_T_OUT, 2, w23, 2, 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_WRITE, "writing sectors 2-3");
	fill(wbuf[0], last);
	if ((r = blk_request(&q, VIRTIO_BLK_T_OUT, last, &w1, 1, 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_WRITE, "writing the last sector");
	if ((r = blk_request(&q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_FLUSH, "FLUSH");
	print("virtioblk: wrote sectors 1-3 and ");
	put_dec(last);
	puts(", flushed");

	/* Read back: sectors 1-3 in one request, then the last one. */
	memset(rbuf, 0, sizeof(rbuf));
	struct vbuf r13 = {rbuf, 3 * SECTOR_SIZE, 1};
	if ((r = blk_request(&q, VIRTIO_BLK_T_IN, 1, &r13, 1, 3 * SECTOR_SIZE + 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_READ, "reading sectors 1-3");
	for (unsigned s = 0; s < 3; s++) {
		if (check(rbuf + s * SECTOR_SIZE, 1 + s) < 0) {
			print("virtioblk: sector ");
			put_dec(1 + s);
			puts(" read back wrong");
			return E_COMPARE;
		}
	}
	memset(rbuf, 0, sizeof(rbuf));
	if ((r = blk_request(&q, VIRTIO_BLK_T_IN, last, &rd, 1, SECTOR_SIZE + 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_READ, "reading the last sector");
	if (check(rbuf, last) < 0) {
		puts("virtioblk: the last sector read back wrong");
		return E_COMPARE;
	}
	puts("virtioblk: read back ok");

	/* One sector past the end: an I/O error, and nothing read. */
	r = blk_request(&q, VIRTIO_BLK_T_IN, cap, &rd, 1, 1);
	if (r != VIRTIO_BLK_S_IOERR) {
		print("virtioblk: a read past the end answered ");
		put_dec((uint64_t)(r < 0 ? 999 : r));
		putc('\n');
		return E_PAST_END;
	}
	puts("virtioblk: past the end: IOERR");

	/* GET_ID: up to 20 bytes, NUL-padded when shorter. */
	struct vbuf idb = {id, VIRTIO_BLK_ID_BYTES, 1};
	if ((r = blk_request(&q, VIRTIO_BLK_T_GET_ID, 0, &idb, 1, VIRTIO_BLK_ID_BYTES + 1)) != VIRTIO_BLK_S_OK)
		return fail(r, E_GET_ID, "GET_ID");
	id[VIRTIO_BLK_ID_BYTES] = '\0';
	print("virtioblk: id ");
	puts(id);
	puts("virtioblk: done");
	return E_OK;
}
