/*
 * virtio_blk.h: virtio-blk requests (virtio 1.x §5.2.6) over the test
 * guests' virtio driver (virtio.h), one request in flight at a time.
 */
#ifndef HULL_GUEST_VIRTIO_BLK_H
#define HULL_GUEST_VIRTIO_BLK_H

#include "virtio.h"

/* Request types and status values (linux/virtio_blk.h). */
#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR_SIZE         512

/* struct virtio_blk_config: capacity in 512-byte sectors at offset 0. */
#define VIRTIO_BLK_CFG_CAPACITY 0

/* struct virtio_blk_outhdr */
struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

/* What blk_request returns besides a status byte. */
#define BLK_TIMEOUT  (-1) /* no used element within the timeout */
#define BLK_BAD_USED (-2) /* a used element for another chain, or a wrong length */

/*
 * blk_request sends one request: the header, the n data buffers (their
 * write flag must match the type: device-writable for IN and GET_ID) and a
 * status byte, and waits for it. want_len is the used length a correct
 * device reports (data written into the chain plus the status byte). It
 * returns the status byte, BLK_TIMEOUT or BLK_BAD_USED.
 */
int blk_request(struct virtq *q, uint32_t type, uint64_t sector, const struct vbuf *data, unsigned n,
		uint32_t want_len);

#endif /* HULL_GUEST_VIRTIO_BLK_H */
