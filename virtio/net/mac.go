package net

import (
	"crypto/sha256"
	"fmt"
	stdnet "net"
)

// MAC is an Ethernet address. Its text form is aa:bb:cc:dd:ee:ff (also in
// JSON); the zero value means "none given" to the VMM, which then uses
// LocalMAC.
type MAC [6]byte

// ParseMAC parses aa:bb:cc:dd:ee:ff (or any 6-byte form net.ParseMAC
// takes) and checks that the address can be a NIC's.
func ParseMAC(s string) (MAC, error) {
	hw, err := stdnet.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("%w: %q (want aa:bb:cc:dd:ee:ff)", ErrBadMAC, s)
	}
	m := MAC(hw)
	return m, m.Check()
}

// Check reports whether m can be a NIC's address: unicast (bit 0 of the
// first byte clear) and not all zeros.
func (m MAC) Check() error {
	if m[0]&1 != 0 || m == (MAC{}) {
		return fmt.Errorf("%w: %s (want a unicast address, not all zeros)", ErrBadMAC, m)
	}
	return nil
}

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// LocalMAC derives a locally administered unicast address from seed (the
// VMM uses the TAP's name and the device's index): the same seed gives
// the same address on every boot, so a guest keeps its address (and DHCP
// lease) across restarts, and different TAPs get different ones.
func LocalMAC(seed string) MAC {
	h := sha256.Sum256([]byte("hull virtio-net MAC\x00" + seed))
	m := MAC(h[:6])
	m[0] = m[0]&^1 | 2 // unicast, locally administered
	return m
}
