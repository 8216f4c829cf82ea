/*
 * virtio.h: a minimal virtio-mmio driver for hull's test guests.
 *
 * Modern virtio-mmio only (version 2 registers, virtio 1.x §4.2.2), split
 * virtqueues (§2.7) of VQ_SIZE entries whose rings are static buffers in
 * the guest image: the image is identity-mapped (start.S), so a pointer is
 * its guest-physical address. Completions are found by polling the used
 * ring with a TSC-bounded timeout: the guests run with interrupts off and
 * no IDT, so the device's interrupt (an IOAPIC pin, raised through an
 * irqfd) is never taken; vq_wait only acknowledges InterruptStatus, as a
 * driver would. No feature beyond VIRTIO_F_VERSION_1 is negotiated: no
 * EVENT_IDX (every publish is followed by a notify), no indirect tables.
 *
 * Devices are found the way Linux finds them on hull: the VMM appends one
 * "virtio_mmio.device=4K@0xc0001000:5" word per device to the command line
 * (vmm/virtio.go, boot.VirtioMMIOCmdline), in slot order.
 */
#ifndef HULL_GUEST_VIRTIO_H
#define HULL_GUEST_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

/* virtio-mmio registers (§4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE        0x000
#define VIRTIO_MMIO_VERSION            0x004
#define VIRTIO_MMIO_DEVICE_ID          0x008
#define VIRTIO_MMIO_VENDOR_ID          0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES    0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES    0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL          0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX      0x034
#define VIRTIO_MMIO_QUEUE_NUM          0x038
#define VIRTIO_MMIO_QUEUE_READY        0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY       0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS   0x060
#define VIRTIO_MMIO_INTERRUPT_ACK      0x064
#define VIRTIO_MMIO_STATUS             0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW     0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH    0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW    0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW     0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH    0x0a4
#define VIRTIO_MMIO_CONFIG             0x100

#define VIRTIO_MMIO_MAGIC              0x74726976 /* "virt" */

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING  1
#define VIRTIO_MMIO_INT_CONFIG 2

#define VIRTIO_F_VERSION_1 32 /* feature bit number */

/* Device IDs (§5). */
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19

/* Descriptor flags (§2.7.5). */
#define VRING_DESC_F_NEXT  1
#define VRING_DESC_F_WRITE 2

#define VQ_SIZE 16

/* The split ring's parts (§2.7), little-endian like x86. */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VQ_SIZE];
	uint16_t used_event;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[VQ_SIZE];
	uint16_t avail_event;
};

/* One queue's ring memory, a page per part; declare it static. */
struct vq_mem {
	struct vring_desc desc[VQ_SIZE] __attribute__((aligned(4096)));
	struct vring_avail avail __attribute__((aligned(4096)));
	struct vring_used used __attribute__((aligned(4096)));
};

struct vdev {
	uintptr_t base; /* MMIO window, identity-mapped */
	uint32_t id;    /* DeviceID */
	uint32_t irq;   /* as announced on the command line (unused: polling) */
};

struct virtq {
	struct vdev *dev;
	struct vq_mem *mem;
	uint16_t index;
	uint16_t avail_idx;         /* the avail.idx published last */
	uint16_t last_used;         /* next used element to read */
	uint16_t nfree;
	uint16_t free[VQ_SIZE];     /* stack of free descriptor indexes */
	uint8_t chain_len[VQ_SIZE]; /* by head: descriptors to free when used */
};

/* One buffer of a chain. */
struct vbuf {
	const volatile void *addr;
	uint32_t len;
	int write; /* device-writable */
};

/* Register access: 32-bit, aligned (§4.2.2.2). */
static inline uint32_t vdev_read(const struct vdev *d, uint32_t off)
{
	return *(volatile uint32_t *)(d->base + off);
}

static inline void vdev_write(const struct vdev *d, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(d->base + off) = v;
}

/* Configuration space, any width (§4.2.2). */
static inline uint32_t vdev_config32(const struct vdev *d, uint32_t off)
{
	return vdev_read(d, VIRTIO_MMIO_CONFIG + off);
}

uint64_t vdev_config64(const struct vdev *d, uint32_t off);

/* A full barrier: ring stores before the notify, used.idx before the used
 * elements (x86 keeps stores and loads in order; this also stops gcc). */
static inline void virtio_mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

/*
 * virtio_find looks through the "virtio_mmio.device=" words of cmdline for
 * the nth (0-based) device whose DeviceID is id and whose magic and version
 * are right; it fills *d and returns 0, or -1 when there is none.
 */
int virtio_find(const char *cmdline, uint32_t id, unsigned nth, struct vdev *d);

/*
 * vdev_init resets the device and negotiates (§3.1.1 steps 1-6): it
 * accepts VIRTIO_F_VERSION_1 and nothing else, and returns 0 when the
 * device kept FEATURES_OK set, -1 otherwise.
 */
int vdev_init(struct vdev *d);

/*
 * vq_init sets up queue index on memory m with VQ_SIZE entries (zeroing
 * it) and enables it. Returns 0, or -1 when the device's maximum is
 * smaller or the queue stays disabled.
 */
int vq_init(struct vdev *d, struct virtq *q, uint16_t index, struct vq_mem *m);

/* vdev_driver_ok sets DRIVER_OK; -1 when the device then reports
 * DEVICE_NEEDS_RESET or refused it. */
int vdev_driver_ok(struct vdev *d);

static inline uint32_t vdev_status(const struct vdev *d)
{
	return vdev_read(d, VIRTIO_MMIO_STATUS);
}

static inline void vdev_reset(struct vdev *d)
{
	vdev_write(d, VIRTIO_MMIO_STATUS, 0);
}

/*
 * vq_add posts bufs as one chain (direct descriptors), publishes it and
 * notifies the device; it returns the head, or -1 when fewer than n
 * descriptors are free.
 */
int vq_add(struct virtq *q, const struct vbuf *bufs, unsigned n);

/* vq_publish puts head in the available ring and notifies (for chains
 * written by hand into q->mem->desc). */
void vq_publish(struct virtq *q, uint16_t head);

/* vq_kick notifies the device of q (QueueNotify). */
static inline void vq_kick(struct virtq *q)
{
	virtio_mb();
	vdev_write(q->dev, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

/* vq_poll takes the next used element if there is one (1), freeing its
 * descriptors when they are ours; 0 when none. */
int vq_poll(struct virtq *q, uint32_t *id, uint32_t *len);

/*
 * vq_wait polls for the next used element for about VQ_TIMEOUT_TICKS of
 * the TSC and acknowledges the interrupt; 0 when one came, -1 on timeout.
 */
int vq_wait(struct virtq *q, uint32_t *id, uint32_t *len);

/* TSC ticks: rough bounds assuming a 1-3 GHz TSC, only for giving up. */
#define TICKS_PER_SEC_MIN 1000000000ULL
#define VQ_TIMEOUT_TICKS  (20 * TICKS_PER_SEC_MIN)

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

#endif /* HULL_GUEST_VIRTIO_H */
