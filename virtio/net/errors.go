package net

import "errors"

// Sentinels; errors from this package wrap them (errors.Is), and the
// TAP's errors also wrap the errno (errors.Is(err, os.ErrPermission)).
var (
	// ErrBadMAC: a MAC address is malformed, multicast or all zeros.
	ErrBadMAC = errors.New("net: bad MAC address")
	// ErrNoTUN: /dev/net/tun is missing (the tun module is not loaded).
	ErrNoTUN = errors.New("net: no /dev/net/tun")
	// ErrTAPName: a TAP name the kernel would refuse.
	ErrTAPName = errors.New("net: bad TAP name")
	// ErrTAPBusy: another process has the TAP open.
	ErrTAPBusy = errors.New("net: TAP busy")
	// ErrNotTAP: an interface of that name exists and is not a
	// single-queue TAP.
	ErrNotTAP = errors.New("net: not a TAP")
)
