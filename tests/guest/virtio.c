/* virtio.c: the test guests' virtio-mmio driver (see virtio.h). */
#include "lib.h"
#include "virtio.h"

#define CMDLINE_KEY "virtio_mmio.device="

uint64_t vdev_config64(const struct vdev *d, uint32_t off)
{
	return (uint64_t)vdev_config32(d, off) | (uint64_t)vdev_config32(d, off + 4) << 32;
}

/* has_prefix reports whether s starts with prefix; it stops at s's NUL. */
static int has_prefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		if (*s != *prefix)
			return 0;
	}
	return 1;
}

/* parse_hex parses "0x<hex digits>" at *s, advancing it; 0 on no digits. */
static int parse_hex(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	int n = 0;
	if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return 0;
	for (p += 2;; p++, n++) {
		unsigned c = (unsigned char)*p, digit;
		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (c >= 'a' && c <= 'f')
			digit = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			break;
		if (n == 16)
			return 0;
		v = v << 4 | digit;
	}
	*s = p;
	*out = v;
	return n > 0;
}

static int parse_dec(const char **s, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	int n = 0;
	for (; *p >= '0' && *p <= '9'; p++, n++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 0xffffffffu)
			return 0;
	}
	*s = p;
	*out = (uint32_t)v;
	return n > 0;
}

/* parse_device parses "<size>K@0x<base>:<irq>" (Linux's
 * virtio_mmio.device= syntax as hull writes it). */
static int parse_device(const char *s, uint64_t *base, uint32_t *irq)
{
	uint32_t size;
	if (!parse_dec(&s, &size) || *s++ != 'K' || *s++ != '@' || !parse_hex(&s, base) || *s++ != ':' ||
	    !parse_dec(&s, irq))
		return 0;
	return *s == '\0' || *s == ' ';
}

int virtio_find(const char *cl, uint32_t id, unsigned nth, struct vdev *d)
{
	size_t klen = strlen(CMDLINE_KEY);
	for (size_t i = 0; cl[i]; i++) {
		if (i > 0 && cl[i - 1] != ' ')
			continue;
		if (!has_prefix(cl + i, CMDLINE_KEY))
			continue;
		uint64_t base;
		uint32_t irq;
		if (!parse_device(cl + i + klen, &base, &irq) || base > 0xffffffffu)
			continue; /* only the identity-mapped first 4 GiB */
		struct vdev c = {.base = (uintptr_t)base, .irq = irq};
		if (vdev_read(&c, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
		    vdev_read(&c, VIRTIO_MMIO_VERSION) != 2)
			continue;
		c.id = vdev_read(&c, VIRTIO_MMIO_DEVICE_ID);
		if (c.id != id)
			continue;
		if (nth-- == 0) {
			*d = c;
			return 0;
		}
	}
	return -1;
}

int vdev_init(struct vdev *d)
{
	vdev_reset(d);
	vdev_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vdev_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdev_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	if (!(vdev_read(d, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << (VIRTIO_F_VERSION_1 - 32))))
		return -1; /* a legacy-only device */
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	vdev_write(d, VIRTIO_MMIO_STATUS,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return (vdev_status(d) & VIRTIO_STATUS_FEATURES_OK) ? 0 : -1;
}

int vq_init(struct vdev *d, struct virtq *q, uint16_t index, struct vq_mem *m)
{
	memset(m, 0, sizeof(*m));
	memset(q, 0, sizeof(*q));
	q->dev = d;
	q->mem = m;
	q->index = index;
	for (unsigned i = 0; i < VQ_SIZE; i++)
		q->free[q->nfree++] = (uint16_t)(VQ_SIZE - 1 - i);

	vdev_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (vdev_read(d, VIRTIO_MMIO_QUEUE_READY) != 0 || vdev_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX) < VQ_SIZE)
		return -1;
	uint64_t desc = (uintptr_t)m->desc, avail = (uintptr_t)&m->avail, used = (uintptr_t)&m->used;
	vdev_write(d, VIRTIO_MMIO_QUEUE_NUM, VQ_SIZE);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vdev_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vdev_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return vdev_read(d, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

int vdev_driver_ok(struct vdev *d)
{
	vdev_write(d, VIRTIO_MMIO_STATUS, vdev_status(d) | VIRTIO_STATUS_DRIVER_OK);
	uint32_t s = vdev_status(d);
	return (s & VIRTIO_STATUS_NEEDS_RESET) || !(s & VIRTIO_STATUS_DRIVER_OK) ? -1 : 0;
}

void vq_publish(struct virtq *q, uint16_t head)
{
	volatile struct vring_avail *a = &q->mem->avail;
	a->ring[q->avail_idx % VQ_SIZE] = head;
	virtio_mb(); /* the entry before the index that publishes it */
	a->idx = ++q->avail_idx;
	vq_kick(q);
}

int vq_add(struct virtq *q, const struct vbuf *bufs, unsigned n)
{
	if (n == 0 || n > q->nfree)
		return -1;
	uint16_t ids[VQ_SIZE];
	for (unsigned i = 0; i < n; i++)
		ids[i] = q->free[--q->nfree];
	volatile struct vring_desc *desc = q->mem->desc;
	for (unsigned i = 0; i < n; i++) {
		desc[ids[i]].addr = (uintptr_t)bufs[i].addr;
		desc[ids[i]].len = bufs[i].len;
		desc[ids[i]].flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
						(i + 1 < n ? VRING_DESC_F_NEXT : 0));
		desc[ids[i]].next = i + 1 < n ? ids[i + 1] : 0;
	}
	q->chain_len[ids[0]] = (uint8_t)n;
	vq_publish(q, ids[0]);
	return ids[0];
}

int vq_poll(struct virtq *q, uint32_t *id, uint32_t *len)
{
	volatile struct vring_used *u = &q->mem->used;
	if (u->idx == q->last_used)
		return 0;
	virtio_mb(); /* used.idx before the element it publishes */
	volatile struct vring_used_elem *e = &u->ring[q->last_used % VQ_SIZE];
	*id = e->id;
	*len = e->len;
	q->last_used++;
	/* Free the chain if the id is one of ours (a hostile test may publish
	 * chains vq_add did not build; those have chain_len 0). */
	if (*id < VQ_SIZE) {
		uint16_t i = (uint16_t)*id;
		for (unsigned k = q->chain_len[*id]; k > 0; k--) {
			q->free[q->nfree++] = i;
			i = q->mem->desc[i].next % VQ_SIZE;
		}
		q->chain_len[*id] = 0;
	}
	return 1;
}

int vq_wait(struct virtq *q, uint32_t *id, uint32_t *len)
{
	uint64_t start = rdtsc();
	while (!vq_poll(q, id, len)) {
		if (rdtsc() - start > VQ_TIMEOUT_TICKS)
			return -1;
		__asm__ volatile("pause");
	}
	uint32_t isr = vdev_read(q->dev, VIRTIO_MMIO_INTERRUPT_STATUS);
	if (isr)
		vdev_write(q->dev, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return 0;
}
