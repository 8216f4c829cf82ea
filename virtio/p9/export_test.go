package p9

// SetTestHookFlush sets a function run before each Tflush is forwarded.
func SetTestHookFlush(f func()) { testHookFlush = f }
