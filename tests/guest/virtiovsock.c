/*
 * virtiovsock: connects from the guest to a host program over virtio-vsock
 * (the first virtio-mmio device with DeviceID 19 on the command line), with
 * the test guests' polling driver (virtio.c), speaking the packet protocol
 * of virtio 1.x §5.10.6 itself:
 *
 *   reads its CID from the configuration space (guest_cid),
 *   sends REQUEST from guest port 49152 to host CID 2, port <port=P from
 *   the command line>; hull's device connects that to the Unix socket
 *   "<uds_path>_<P>" and answers RESPONSE,
 *   sends MESSAGE in one OP_RW packet (buf_alloc 4096, fwd_cnt 0),
 *   reads the host's REPLY from OP_RW packets (answering CREDIT_REQUEST,
 *   counting fwd_cnt), compares it,
 *   shuts both directions down (SHUTDOWN, flags RCV|SEND) and waits for the
 *   device's RST, which says the host socket is closed.
 *
 * Output (tests/guest/guesttest VirtioVsockOutput):
 *
 *	virtiovsock: cid <cid>, connecting to host port <P>
 *	virtiovsock: connected
 *	virtiovsock: reply: <REPLY>
 *	virtiovsock: closed
 *
 * The host side (tests/kvm) listens on "<uds_path>_<P>", reads MESSAGE,
 * writes REPLY, then reads until end of stream. Exit codes, one per failure:
 */
#include "lib.h"
#include "virtio.h"

enum {
	E_OK = 0,
	E_NODEV = 1,      /* no virtio-vsock device on the command line */
	E_FEATURES = 2,   /* FEATURES_OK refused */
	E_QUEUE = 3,      /* a queue could not be set up */
	E_DRIVER_OK = 4,  /* DRIVER_OK refused or NEEDS_RESET */
	E_PORT = 5,       /* no port=<P> on the command line */
	E_CID = 6,        /* guest_cid is reserved (0, 1, 2) or above 32 bits */
	E_TX = 7,         /* a packet was not consumed (tx timeout) */
	E_RX = 8,         /* no packet from the device (rx timeout) */
	E_REFUSED = 9,    /* RST instead of RESPONSE: nothing listens on the host */
	E_UNEXPECTED = 10, /* a packet with the wrong addresses, type or op */
	E_REPLY = 11,     /* the reply differs from REPLY */
	E_NO_RST = 12,    /* no RST after our SHUTDOWN */
};

#define MESSAGE "hello from the guest over vsock"
#define REPLY   "host echo: hello from the guest over vsock"

#define VMADDR_CID_HOST 2
#define GUEST_PORT      49152
#define BUF_ALLOC       4096 /* what we tell the host we can buffer */

/* struct virtio_vsock_hdr, packed, little-endian. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");

#define VIRTIO_VSOCK_TYPE_STREAM       1
#define VIRTIO_VSOCK_OP_REQUEST        1
#define VIRTIO_VSOCK_OP_RESPONSE       2
#define VIRTIO_VSOCK_OP_RST            3
#define VIRTIO_VSOCK_OP_SHUTDOWN       4
#define VIRTIO_VSOCK_OP_RW             5
#define VIRTIO_VSOCK_OP_CREDIT_UPDATE  6
#define VIRTIO_VSOCK_OP_CREDIT_REQUEST 7
#define VIRTIO_VSOCK_SHUTDOWN_RCV      1
#define VIRTIO_VSOCK_SHUTDOWN_SEND     2

enum { RXQ = 0, TXQ = 1, EVENTQ = 2 };

#define RX_BUFS     4
#define RX_BUF_SIZE (sizeof(struct vsock_hdr) + 256)

static struct vq_mem rxmem, txmem, evmem;
static struct virtq rxq, txq, evq;
static uint8_t rxbuf[RX_BUFS][RX_BUF_SIZE] __attribute__((aligned(64)));
static int rxhead[RX_BUFS]; /* the descriptor head each buffer is posted under */
static uint8_t evbuf[8] __attribute__((aligned(8)));
static struct vsock_hdr txhdr __attribute__((aligned(8)));
static char txdata[64];

static uint64_t cid;
static uint32_t host_port;
static uint32_t fwd_cnt; /* payload bytes we consumed */

static void post_rx(unsigned i)
{
	struct vbuf b = {rxbuf[i], RX_BUF_SIZE, 1};
	rxhead[i] = vq_add(&rxq, &b, 1);
}

/* send_pkt sends op with payload (n bytes) and waits until the device
 * consumed it. */
static int send_pkt(uint16_t op, uint32_t flags, const char *payload, uint32_t n)
{
	txhdr = (struct vsock_hdr){
		.src_cid = cid, .dst_cid = VMADDR_CID_HOST, .src_port = GUEST_PORT, .dst_port = host_port,
		.len = n, .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = BUF_ALLOC, .fwd_cnt = fwd_cnt,
	};
	struct vbuf b[2] = {{&txhdr, sizeof(txhdr), 0}, {txdata, n, 0}};
	if (n > sizeof(txdata))
		return -1;
	memcpy(txdata, payload, n);
	if (vq_add(&txq, b, n ? 2 : 1) < 0)
		return -1;
	uint32_t id, len;
	return vq_wait(&txq, &id, &len);
}

/* recv_pkt waits for the next packet, copies its header to *h and up to
 * max payload bytes to data, and reposts the buffer. -1 on timeout. */
static int recv_pkt(struct vsock_hdr *h, char *data, uint32_t max)
{
	uint32_t id, len;
	if (vq_wait(&rxq, &id, &len) < 0)
		return -1;
	for (unsigned i = 0; i < RX_BUFS; i++) {
		if (rxhead[i] != (int)id)
			continue;
		memcpy(h, rxbuf[i], sizeof(*h));
		if (len < sizeof(*h) || h->len > len - sizeof(*h))
			h->len = 0xffffffffu; /* the caller's checks fail it */
		else
			memcpy(data, rxbuf[i] + sizeof(*h), h->len < max ? h->len : max);
		post_rx(i);
		return 0;
	}
	return -1;
}

/* ours reports whether h comes from the host port we connected to, for us. */
static int ours(const struct vsock_hdr *h)
{
	return h->src_cid == VMADDR_CID_HOST && h->dst_cid == cid && h->src_port == host_port &&
	       h->dst_port == GUEST_PORT && h->type == VIRTIO_VSOCK_TYPE_STREAM;
}

static uint32_t unexpected(const struct vsock_hdr *h)
{
	print("virtiovsock: unexpected packet: op ");
	put_dec(h->op);
	print(" from ");
	put_dec(h->src_cid);
	putc(':');
	put_dec(h->src_port);
	print(" to ");
	put_dec(h->dst_cid);
	putc(':');
	put_dec(h->dst_port);
	print(" len ");
	put_dec(h->len);
	putc('\n');
	return E_UNEXPECTED;
}

uint32_t guest_main(const uint8_t *bp)
{
	const char *cl = boot_cmdline(bp);
	struct vdev d;
	struct vsock_hdr h;
	static char in[128];

	if (virtio_find(cl, VIRTIO_ID_VSOCK, 0, &d) < 0) {
		puts("virtiovsock: no virtio-vsock device on the command line");
		return E_NODEV;
	}
	if (!cmdline_u32(cl, "port", &host_port)) {
		puts("virtiovsock: no port=<P> on the command line");
		return E_PORT;
	}
	if (vdev_init(&d) < 0)
		return E_FEATURES;
	if (vq_init(&d, &rxq, RXQ, &rxmem) < 0 || vq_init(&d, &txq, TXQ, &txmem) < 0 ||
	    vq_init(&d, &evq, EVENTQ, &evmem) < 0)
		return E_QUEUE;
	if (vdev_driver_ok(&d) < 0)
		return E_DRIVER_OK;
	cid = vdev_config64(&d, 0); /* struct virtio_vsock_config: le64 guest_cid */
	if (cid <= VMADDR_CID_HOST || cid > 0xfffffffeu)
		return E_CID;
	for (unsigned i = 0; i < RX_BUFS; i++)
		post_rx(i);
	struct vbuf ev = {evbuf, sizeof(evbuf), 1}; /* for a TRANSPORT_RESET; none expected */
	vq_add(&evq, &ev, 1);

	print("virtiovsock: cid ");
	put_dec(cid);
	print(", connecting to host port ");
	put_dec(host_port);
	putc('\n');

	if (send_pkt(VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0) < 0)
		return E_TX;
	if (recv_pkt(&h, in, sizeof(in)) < 0)
		return E_RX;
	if (ours(&h) && h.op == VIRTIO_VSOCK_OP_RST) {
		puts("virtiovsock: connection refused (RST)");
		return E_REFUSED;
	}
	if (!ours(&h) || h.op != VIRTIO_VSOCK_OP_RESPONSE)
		return unexpected(&h);
	puts("virtiovsock: connected");

	if (send_pkt(VIRTIO_VSOCK_OP_RW, 0, MESSAGE, sizeof(MESSAGE) - 1) < 0)
		return E_TX;
	static char reply[128];
	uint32_t got = 0, want = sizeof(REPLY) - 1;
	while (got < want) {
		if (recv_pkt(&h, in, sizeof(in)) < 0)
			return E_RX;
		if (!ours(&h))
			return unexpected(&h);
		switch (h.op) {
		case VIRTIO_VSOCK_OP_RW:
			if (h.len > want - got)
				return unexpected(&h);
			memcpy(reply + got, in, h.len);
			got += h.len;
			fwd_cnt += h.len;
			break;
		case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
			break;
		case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
			if (send_pkt(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0) < 0)
				return E_TX;
			break;
		default:
			return unexpected(&h);
		}
	}
	reply[got] = '\0';
	print("virtiovsock: reply: ");
	puts(reply);
	if (memcmp(reply, REPLY, want) != 0)
		return E_REPLY;

	if (send_pkt(VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0) < 0)
		return E_TX;
	/* The device closes the host socket and confirms with RST; the host's
	 * own end of stream (SHUTDOWN) or a credit update may come first. */
	for (int i = 0; i < 8; i++) {
		if (recv_pkt(&h, in, sizeof(in)) < 0)
			return E_NO_RST;
		if (!ours(&h))
			return unexpected(&h);
		if (h.op == VIRTIO_VSOCK_OP_RST) {
			puts("virtiovsock: closed");
			return E_OK;
		}
		if (h.op != VIRTIO_VSOCK_OP_SHUTDOWN && h.op != VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			return unexpected(&h);
	}
	return E_NO_RST;
}
