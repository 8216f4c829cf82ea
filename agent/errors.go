package agent

import "errors"

// ErrNoVsock: the guest has no virtio-vsock device (System.ListenVsock).
var ErrNoVsock = errors.New("no vsock device")
