package virtio_test

import "time"

func sleepBriefly() { time.Sleep(100 * time.Microsecond) }
