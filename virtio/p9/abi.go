package p9

// virtio-9p ABI (virtio 1.x §5.x "9P transport", Linux
// include/uapi/linux/virtio_9p.h) and the 9P2000.L message numbers and
// sizes the device itself looks at (Linux include/net/9p/9p.h), spelled as
// in the kernel headers.
//
//nolint:revive,stylecheck // kernel spellings on purpose (STYLE 2.3)
const (
	// Feature bit: the configuration space holds a mount tag.
	VIRTIO_9P_MOUNT_TAG = 0

	// Message types (enum p9_msg_t), 9P2000.L and the base protocol.
	P9_TLERROR      = 6
	P9_RLERROR      = 7
	P9_TSTATFS      = 8
	P9_RSTATFS      = 9
	P9_TLOPEN       = 12
	P9_RLOPEN       = 13
	P9_TLCREATE     = 14
	P9_RLCREATE     = 15
	P9_TSYMLINK     = 16
	P9_RSYMLINK     = 17
	P9_TMKNOD       = 18
	P9_RMKNOD       = 19
	P9_TRENAME      = 20
	P9_RRENAME      = 21
	P9_TREADLINK    = 22
	P9_RREADLINK    = 23
	P9_TGETATTR     = 24
	P9_RGETATTR     = 25
	P9_TSETATTR     = 26
	P9_RSETATTR     = 27
	P9_TXATTRWALK   = 30
	P9_RXATTRWALK   = 31
	P9_TXATTRCREATE = 32
	P9_RXATTRCREATE = 33
	P9_TREADDIR     = 40
	P9_RREADDIR     = 41
	P9_TFSYNC       = 50
	P9_RFSYNC       = 51
	P9_TLOCK        = 52
	P9_RLOCK        = 53
	P9_TGETLOCK     = 54
	P9_RGETLOCK     = 55
	P9_TLINK        = 70
	P9_RLINK        = 71
	P9_TMKDIR       = 72
	P9_RMKDIR       = 73
	P9_TRENAMEAT    = 74
	P9_RRENAMEAT    = 75
	P9_TUNLINKAT    = 76
	P9_RUNLINKAT    = 77
	P9_TVERSION     = 100
	P9_RVERSION     = 101
	P9_TAUTH        = 102
	P9_RAUTH        = 103
	P9_TATTACH      = 104
	P9_RATTACH      = 105
	P9_TFLUSH       = 108
	P9_RFLUSH       = 109
	P9_TWALK        = 110
	P9_RWALK        = 111
	P9_TREAD        = 116
	P9_RREAD        = 117
	P9_TWRITE       = 118
	P9_RWRITE       = 119
	P9_TCLUNK       = 120
	P9_RCLUNK       = 121
	P9_TREMOVE      = 122
	P9_RREMOVE      = 123

	P9_NOTAG    = 0xffff
	P9_NOFID    = 0xffffffff
	P9_MAXWELEM = 16 // names in one Twalk

	// Lock types of Tgetlock/Rgetlock.
	P9_LOCK_TYPE_RDLCK = 0
	P9_LOCK_TYPE_WRLCK = 1
	P9_LOCK_TYPE_UNLCK = 2
)

// Sizes on the wire.
const (
	hdrSize     = 7            // size[4] type[1] tag[2]
	rlerrorSize = hdrSize + 4  // ... ecode[4]
	ioHdrSize   = hdrSize + 4  // Rread/Rreaddir: ... count[4], then the data
	twriteFixed = hdrSize + 16 // Twrite: ... fid[4] offset[8] count[4], then the data

	// version9P2000L is the only protocol the device speaks.
	version9P2000L = "9P2000.L"
)

// Offsets in struct virtio_9p_config.
const (
	cfgTagLen = 0 // le16
	cfgTag    = 2 // tag_len bytes, not NUL-terminated
)
