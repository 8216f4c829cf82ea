package virtio

// ABI constants of virtio 1.x (OASIS virtio v1.2) and the virtio-mmio
// transport, spelled as in the Linux uapi headers (virtio_config.h,
// virtio_ring.h, virtio_ids.h, virtio_mmio.h) where the kernel has a name;
// register offsets are named after the spec's table in §4.2.2.

//nolint:revive,stylecheck // kernel spellings on purpose (STYLE 2.3)
const (
	// Device status bits (§2.1, virtio_config.h).
	VIRTIO_CONFIG_S_ACKNOWLEDGE = 1
	VIRTIO_CONFIG_S_DRIVER      = 2
	VIRTIO_CONFIG_S_DRIVER_OK   = 4
	VIRTIO_CONFIG_S_FEATURES_OK = 8
	VIRTIO_CONFIG_S_NEEDS_RESET = 0x40
	VIRTIO_CONFIG_S_FAILED      = 0x80

	// Reserved feature bits (§6), as bit numbers.
	VIRTIO_RING_F_INDIRECT_DESC = 28
	VIRTIO_RING_F_EVENT_IDX     = 29
	VIRTIO_F_VERSION_1          = 32
	VIRTIO_F_ACCESS_PLATFORM    = 33
	VIRTIO_F_RING_PACKED        = 34
	VIRTIO_F_IN_ORDER           = 35

	// Descriptor flags (§2.7.5, virtio_ring.h).
	VRING_DESC_F_NEXT     = 1
	VRING_DESC_F_WRITE    = 2
	VRING_DESC_F_INDIRECT = 4
	// Ring flags (§2.7.6, §2.7.8).
	VRING_AVAIL_F_NO_INTERRUPT = 1
	VRING_USED_F_NO_NOTIFY     = 1

	// InterruptStatus bits (§4.2.2, virtio_mmio.h).
	VIRTIO_MMIO_INT_VRING  = 1
	VIRTIO_MMIO_INT_CONFIG = 2

	// Device IDs (§5, virtio_ids.h).
	VIRTIO_ID_NET     DeviceType = 1
	VIRTIO_ID_BLOCK   DeviceType = 2
	VIRTIO_ID_CONSOLE DeviceType = 3
	VIRTIO_ID_RNG     DeviceType = 4
	VIRTIO_ID_9P      DeviceType = 9
	VIRTIO_ID_VSOCK   DeviceType = 19
)

// virtio-mmio version 2 register offsets (§4.2.2, table "MMIO Device
// Register Layout"). Every register is 32 bits wide and must be accessed
// with aligned 32-bit accesses; the device-specific configuration space
// starts at regConfig and takes any access width.
const (
	regMagicValue        = 0x000 // R: 0x74726976 ("virt")
	regVersion           = 0x004 // R: 2
	regDeviceID          = 0x008 // R
	regVendorID          = 0x00c // R
	regDeviceFeatures    = 0x010 // R: 32 feature bits selected by DeviceFeaturesSel
	regDeviceFeaturesSel = 0x014 // W
	regDriverFeatures    = 0x020 // W: 32 feature bits selected by DriverFeaturesSel
	regDriverFeaturesSel = 0x024 // W
	regQueueSel          = 0x030 // W
	regQueueNumMax       = 0x034 // R: 0 when the selected queue does not exist
	regQueueNum          = 0x038 // W
	regQueueReady        = 0x044 // RW
	regQueueNotify       = 0x050 // W: queue index
	regInterruptStatus   = 0x060 // R
	regInterruptACK      = 0x064 // W
	regStatus            = 0x070 // RW; writing 0 resets the device
	regQueueDescLow      = 0x080 // W
	regQueueDescHigh     = 0x084 // W
	regQueueDriverLow    = 0x090 // W: the available ring
	regQueueDriverHigh   = 0x094 // W
	regQueueDeviceLow    = 0x0a0 // W: the used ring
	regQueueDeviceHigh   = 0x0a4 // W
	regSHMSel            = 0x0ac // W: shared memory region (none here)
	regSHMLenLow         = 0x0b0 // R: all ones = no such region
	regSHMLenHigh        = 0x0b4 // R
	regSHMBaseLow        = 0x0b8 // R
	regSHMBaseHigh       = 0x0bc // R
	regQueueReset        = 0x0c0 // RW: only with VIRTIO_F_RING_RESET (not offered)
	regConfigGeneration  = 0x0fc // R
	regConfig            = 0x100 // device-specific configuration space
)

const (
	mmioMagic   = 0x74726976 // "virt", little-endian
	mmioVersion = 2          // virtio 1.x ("modern") register layout
	// VendorID is what the VendorID register reads: "HULL" in ASCII,
	// little-endian, as QEMU answers "QEMU".
	VendorID = 0x4c4c5548
)

// QueueNotifyOffset is the QueueNotify register's offset in a device's MMIO
// window. The VMM registers each queue's notify eventfd (MMIO.NotifyFDs)
// as an ioeventfd for a 4-byte write of the queue index there.
const QueueNotifyOffset = regQueueNotify

// MMIOSize is the size of a virtio-mmio device window: registers, then the
// configuration space.
const MMIOSize = 0x1000

// Split virtqueue layout (§2.7): sizes of the parts, in bytes.
const (
	descSize      = 16 // struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next
	usedElemSize  = 8  // struct virtq_used_elem: le32 id, le32 len
	ringHeader    = 4  // le16 flags, le16 idx of both rings
	descAlign     = 16
	availAlign    = 2
	usedAlign     = 4
	availFlagsOff = 0
	availIdxOff   = 2
	usedFlagsOff  = 0
	usedIdxOff    = 2
)

// MaxQueueSize is the largest split virtqueue (§2.7: Queue Size ≤ 32768).
const MaxQueueSize = 32768

// Bit returns the feature mask of feature bit n.
func Bit(n uint) uint64 { return 1 << n }

// DeviceType is a virtio device ID (§5).
type DeviceType uint32
