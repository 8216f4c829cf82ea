/* virtio_blk.c: virtio-blk requests for the test guests (see virtio_blk.h). */
#include "lib.h"
#include "virtio_blk.h"

static struct virtio_blk_outhdr hdr __attribute__((aligned(16)));
static volatile uint8_t status;

int blk_request(struct virtq *q, uint32_t type, uint64_t sector, const struct vbuf *data, unsigned n,
		uint32_t want_len)
{
	struct vbuf bufs[VQ_SIZE];
	if (n + 2 > VQ_SIZE)
		return BLK_BAD_USED;
	hdr.type = type;
	hdr.ioprio = 0;
	hdr.sector = sector;
	status = 0xff; /* no status value: a device that writes nothing is caught */
	bufs[0] = (struct vbuf){&hdr, sizeof(hdr), 0};
	for (unsigned i = 0; i < n; i++)
		bufs[1 + i] = data[i];
	bufs[1 + n] = (struct vbuf){&status, 1, 1};
	int head = vq_add(q, bufs, n + 2);
	if (head < 0)
		return BLK_BAD_USED;
	uint32_t id, len;
	if (vq_wait(q, &id, &len) < 0)
		return BLK_TIMEOUT;
	if (id != (uint32_t)head || (status == VIRTIO_BLK_S_OK && len != want_len))
		return BLK_BAD_USED;
	return status;
}
