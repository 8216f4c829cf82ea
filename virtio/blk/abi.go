package blk

// virtio-blk ABI (virtio 1.x §5.2, Linux include/uapi/linux/virtio_blk.h),
// spelled as in the kernel header.
//
//nolint:revive,stylecheck // kernel spellings on purpose (STYLE 2.3)
const (
	// Feature bits.
	VIRTIO_BLK_F_SIZE_MAX     = 1
	VIRTIO_BLK_F_SEG_MAX      = 2
	VIRTIO_BLK_F_GEOMETRY     = 4
	VIRTIO_BLK_F_RO           = 5
	VIRTIO_BLK_F_BLK_SIZE     = 6
	VIRTIO_BLK_F_FLUSH        = 9
	VIRTIO_BLK_F_TOPOLOGY     = 10
	VIRTIO_BLK_F_CONFIG_WCE   = 11
	VIRTIO_BLK_F_MQ           = 12
	VIRTIO_BLK_F_DISCARD      = 13
	VIRTIO_BLK_F_WRITE_ZEROES = 14

	// Request types (struct virtio_blk_outhdr.type).
	VIRTIO_BLK_T_IN           = 0
	VIRTIO_BLK_T_OUT          = 1
	VIRTIO_BLK_T_FLUSH        = 4
	VIRTIO_BLK_T_GET_ID       = 8
	VIRTIO_BLK_T_GET_LIFETIME = 10
	VIRTIO_BLK_T_DISCARD      = 11
	VIRTIO_BLK_T_WRITE_ZEROES = 13
	VIRTIO_BLK_T_SECURE_ERASE = 14

	// Status byte values.
	VIRTIO_BLK_S_OK     = 0
	VIRTIO_BLK_S_IOERR  = 1
	VIRTIO_BLK_S_UNSUPP = 2

	// struct virtio_blk_discard_write_zeroes.flags
	VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1

	// Length of the GET_ID string.
	VIRTIO_BLK_ID_BYTES = 20

	// Sectors are always 512 bytes in the protocol (SECTOR_SHIFT).
	SECTOR_SHIFT = 9
	SECTOR_SIZE  = 1 << SECTOR_SHIFT
)

// Sizes of the request structures.
const (
	outhdrSize  = 16 // struct virtio_blk_outhdr: le32 type, le32 ioprio, le64 sector
	segmentSize = 16 // struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags
)

// Offsets in struct virtio_blk_config (§5.2.4).
const (
	cfgCapacity               = 0  // le64, in 512-byte sectors
	cfgSizeMax                = 8  // le32
	cfgSegMax                 = 12 // le32
	cfgGeometry               = 16 // le16 cylinders, u8 heads, u8 sectors
	cfgBlkSize                = 20 // le32
	cfgTopology               = 24 // u8, u8, le16, le32
	cfgWriteback              = 32 // u8
	cfgNumQueues              = 34 // le16
	cfgMaxDiscardSectors      = 36 // le32
	cfgMaxDiscardSeg          = 40 // le32
	cfgDiscardSectorAlignment = 44 // le32
	cfgMaxWriteZeroesSectors  = 48 // le32
	cfgMaxWriteZeroesSeg      = 52 // le32
	cfgWriteZeroesMayUnmap    = 56 // u8
	configSize                = 60 // up to and with unused1[3]
)
