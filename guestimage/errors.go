package guestimage

import "errors"

// ErrNoImage: no default image has been built yet (Default).
var ErrNoImage = errors.New("no default guest image")
