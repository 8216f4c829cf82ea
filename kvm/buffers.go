package kvm

import (
	"encoding/binary"
	"fmt"
)

// The variable-length ioctl arguments (kvm_cpuid2, kvm_msrs, kvm_msr_list)
// are laid out in byte buffers here, little-endian, at the offsets of the
// mirrored structs; ioctl_unsafe.go hands the buffers to the kernel.

var le = binary.LittleEndian

// encodeCPUID2 lays out a kvm_cpuid2 holding entries.
func encodeCPUID2(entries []CPUIDEntry) []byte {
	buf := make([]byte, sizeofCPUID2Header+len(entries)*sizeofCPUIDEntry)
	le.PutUint32(buf, uint32(len(entries)))
	for i := range entries {
		e := &entries[i]
		b := buf[sizeofCPUID2Header+i*sizeofCPUIDEntry:]
		le.PutUint32(b[0:], e.Function)
		le.PutUint32(b[4:], e.Index)
		le.PutUint32(b[8:], e.Flags)
		le.PutUint32(b[12:], e.EAX)
		le.PutUint32(b[16:], e.EBX)
		le.PutUint32(b[20:], e.ECX)
		le.PutUint32(b[24:], e.EDX)
	}
	return buf
}

// decodeCPUID2 reads the nent entries of a kvm_cpuid2 buffer.
func decodeCPUID2(buf []byte) ([]CPUIDEntry, error) {
	if len(buf) < sizeofCPUID2Header {
		return nil, fmt.Errorf("kvm: kvm_cpuid2 buffer of %d bytes", len(buf))
	}
	n := int(le.Uint32(buf))
	if room := (len(buf) - sizeofCPUID2Header) / sizeofCPUIDEntry; n > room {
		return nil, fmt.Errorf("kvm: kvm_cpuid2 says %d entries, buffer holds %d", n, room)
	}
	out := make([]CPUIDEntry, n)
	for i := range out {
		b := buf[sizeofCPUID2Header+i*sizeofCPUIDEntry:]
		out[i] = CPUIDEntry{
			Function: le.Uint32(b[0:]),
			Index:    le.Uint32(b[4:]),
			Flags:    le.Uint32(b[8:]),
			EAX:      le.Uint32(b[12:]),
			EBX:      le.Uint32(b[16:]),
			ECX:      le.Uint32(b[20:]),
			EDX:      le.Uint32(b[24:]),
		}
	}
	return out, nil
}

// encodeMSRs lays out a kvm_msrs holding entries.
func encodeMSRs(entries []MSREntry) []byte {
	buf := make([]byte, sizeofMSRsHeader+len(entries)*sizeofMSREntry)
	le.PutUint32(buf, uint32(len(entries)))
	for i := range entries {
		b := buf[sizeofMSRsHeader+i*sizeofMSREntry:]
		le.PutUint32(b[0:], entries[i].Index)
		le.PutUint64(b[8:], entries[i].Data)
	}
	return buf
}

// decodeMSRs reads the first n entries of a kvm_msrs buffer (n is what
// KVM_GET_MSRS returned, not the header count).
func decodeMSRs(buf []byte, n int) []MSREntry {
	if room := (len(buf) - sizeofMSRsHeader) / sizeofMSREntry; n > room {
		n = room
	}
	if n < 0 {
		n = 0
	}
	out := make([]MSREntry, n)
	for i := range out {
		b := buf[sizeofMSRsHeader+i*sizeofMSREntry:]
		out[i] = MSREntry{Index: le.Uint32(b[0:]), Data: le.Uint64(b[8:])}
	}
	return out
}

// decodeMSRList reads the indices of a kvm_msr_list buffer.
func decodeMSRList(buf []byte) ([]uint32, error) {
	if len(buf) < sizeofMSRListHeader {
		return nil, fmt.Errorf("kvm: kvm_msr_list buffer of %d bytes", len(buf))
	}
	n := int(le.Uint32(buf))
	if room := (len(buf) - sizeofMSRListHeader) / 4; n > room {
		return nil, fmt.Errorf("kvm: kvm_msr_list says %d indices, buffer holds %d", n, room)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = le.Uint32(buf[sizeofMSRListHeader+4*i:])
	}
	return out, nil
}
