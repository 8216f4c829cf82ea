package guesttest

import "fmt"

// The virtio guests (virtioblk.c, virtiohostile.c, virtiovsock.c) drive
// devices with their own polling virtio-mmio driver (virtio.c).

// BlkLabel is the line the host writes at the start of disk 0's sector 0
// for virtioblk and virtiohostile (followed by "\n"); both check it.
const BlkLabel = "hull virtio-blk test disk"

// BlkMinSectors is the smallest disk virtioblk accepts.
const BlkMinSectors = 8

// BlkPattern is what virtioblk writes to sector s of disk 0 (sectors 1, 2,
// 3 and the last one): byte i is (s*37 + i*13 + (i>>8)*101 + 0x5a) mod 256.
func BlkPattern(s uint64) []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(s*37 + uint64(i)*13 + uint64(i>>8)*101 + 0x5a)
	}
	return b
}

// BlkWritten lists the sectors virtioblk writes on a disk of n sectors.
func BlkWritten(n uint64) []uint64 { return []uint64{1, 2, 3, n - 1} }

// VirtioBlkOutput is virtioblk's whole output (exit 0) for disk 0 at
// MMIO address base with n sectors and GET_ID string id.
func VirtioBlkOutput(base, n uint64, id string) string {
	return fmt.Sprintf("virtioblk: disk at %#x, %d sectors\n", base, n) +
		"virtioblk: sector 0: " + BlkLabel + "\n" +
		fmt.Sprintf("virtioblk: wrote sectors 1-3 and %d, flushed\n", n-1) +
		"virtioblk: read back ok\n" +
		"virtioblk: past the end: IOERR\n" +
		"virtioblk: id " + id + "\n" +
		"virtioblk: done\n"
}

// VirtioBlkCodes names virtioblk's exit codes.
var VirtioBlkCodes = map[int]string{
	1: "no virtio-blk device on the command line", 2: "FEATURES_OK refused", 3: "queue setup failed",
	4: "DRIVER_OK refused or NEEDS_RESET", 5: "disk too small", 6: "request timed out",
	7: "used element for the wrong chain or of the wrong length", 8: "write failed", 9: "FLUSH failed",
	10: "read failed", 11: "sector 0 without the label", 12: "read back wrong",
	13: "read past the end did not give IOERR", 14: "GET_ID failed",
}

// VirtioHostileOutput is virtiohostile's whole output (exit 0).
const VirtioHostileOutput = `virtiohostile: rings outside RAM: NEEDS_RESET
virtiohostile: buffer outside RAM: chain returned empty
virtiohostile: wrapping buffer: chain returned empty
virtiohostile: descriptor loop: chain returned empty
virtiohostile: device still serves
virtiohostile: bad ring entry: NEEDS_RESET
virtiohostile: reset and recovered
`

// VirtioHostileCodes names virtiohostile's exit codes.
var VirtioHostileCodes = map[int]string{
	1: "no virtio-blk device on the command line", 2: "FEATURES_OK refused", 3: "queue setup failed",
	4: "DRIVER_OK refused or NEEDS_RESET on a good setup", 5: "rings outside RAM did not give NEEDS_RESET",
	6: "a chain never came back", 7: "an out-of-RAM buffer was not refused cleanly",
	8: "the descriptor loop was not refused cleanly", 9: "no good read after the bad chains",
	10: "a bad ring entry did not give NEEDS_RESET", 11: "no good read after the reset",
	12: "NEEDS_RESET after one bad chain",
}

// What virtiovsock sends to the host and expects back.
const (
	VsockMessage = "hello from the guest over vsock"
	VsockReply   = "host echo: " + VsockMessage
)

// VirtioVsockCmdline is the command line that makes virtiovsock connect to
// host port port.
func VirtioVsockCmdline(port uint32) string { return fmt.Sprintf("port=%d", port) }

// VirtioVsockOutput is virtiovsock's whole output (exit 0) as guest cid
// connecting to host port port.
func VirtioVsockOutput(cid uint64, port uint32) string {
	return fmt.Sprintf("virtiovsock: cid %d, connecting to host port %d\n", cid, port) +
		"virtiovsock: connected\n" +
		"virtiovsock: reply: " + VsockReply + "\n" +
		"virtiovsock: closed\n"
}

// VirtioVsockCodes names virtiovsock's exit codes.
var VirtioVsockCodes = map[int]string{
	1: "no virtio-vsock device on the command line", 2: "FEATURES_OK refused", 3: "queue setup failed",
	4: "DRIVER_OK refused or NEEDS_RESET", 5: "no port= on the command line", 6: "bad guest_cid",
	7: "tx timeout", 8: "rx timeout", 9: "connection refused (RST)", 10: "unexpected packet",
	11: "reply differs", 12: "no RST after SHUTDOWN",
}
