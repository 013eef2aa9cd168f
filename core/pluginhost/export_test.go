package pluginhost

// SetAfterVerify installs the hook run between a binary's check and its
// start, and returns a function restoring the default.
func SetAfterVerify(f func(path string)) (restore func()) {
	old := afterVerify
	afterVerify = f
	return func() { afterVerify = old }
}
