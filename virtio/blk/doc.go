// Package blk is virtio-blk (virtio 1.x §5.2) over a raw disk image.
//
//	disk, err := blk.Open("rootfs.ext4", blk.Options{ReadOnly: false})
//	if err != nil { ... }
//	defer disk.Close()
//	t, err := virtio.NewMMIO(disk, virtio.MMIOConfig{Mem: mem, Interrupt: irq, Name: "blk0"})
//	// put t on the MMIO bus, announce it on the kernel command line: the
//	// guest sees /dev/vda
//
// Requests: IN and OUT (pread/pwrite straight between the file and guest
// memory, no copy), FLUSH (fdatasync), GET_ID (20-byte ID), DISCARD and
// WRITE_ZEROES (fallocate PUNCH_HOLE / ZERO_RANGE, offered only when a
// probe at open shows the file system supports them). A read-only disk
// offers VIRTIO_BLK_F_RO and answers every write VIRTIO_BLK_S_IOERR.
//
// Requests come from the guest and are hostile: sector ranges are checked
// against the capacity without overflow (IOERR), unknown types are answered
// VIRTIO_BLK_S_UNSUPP, lengths that are not whole sectors IOERR; a chain
// without room for a status byte is returned with length 0. Host I/O errors
// are the guest's IOERR too, and counted in Stats: a failing disk is the
// guest's business, as on real hardware.
//
// A snapshot (state.go) keeps the capacity, the mode and the GET_ID string;
// a restored device may use another file of the same size and mode.
package blk
