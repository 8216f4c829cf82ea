package virtio

import "errors"

// Sentinels; errors from this package wrap them (errors.Is).
var (
	// ErrBadQueue: the driver's queue setup is unusable (size, alignment,
	// rings outside guest RAM). Guest-caused.
	ErrBadQueue = errors.New("virtio: bad queue configuration")
	// ErrBadChain: a descriptor chain is malformed. Guest-caused.
	ErrBadChain = errors.New("virtio: malformed descriptor chain")
	// ErrShortChain: a chain's buffers hold fewer bytes than asked for.
	ErrShortChain = errors.New("virtio: chain too short")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("virtio: transport closed")
	// ErrNotPaused: SaveState on a transport that is not paused.
	ErrNotPaused = errors.New("virtio: transport not paused")
	// ErrBadState: RestoreState refused a saved state: corrupt, from
	// another kind of device, or one this device cannot go on with.
	ErrBadState = errors.New("virtio: unusable saved state")
)
