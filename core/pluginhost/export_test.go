package pluginhost

// SetAfterVerify installs the hook run between a binary's check and its
// start, and returns a function restoring the default.
func SetAfterVerify(f func(path string)) (restore func()) {
	old := afterVerify
	afterVerify = f
	return func() { afterVerify = old }
}

// Addr is the running process's plugin socket, "" when none runs.
func (p *Plugin) Addr() string {
	p.proc.mu.Lock()
	defer p.proc.mu.Unlock()
	if p.proc.client == nil {
		return ""
	}
	if rc := p.proc.client.ReattachConfig(); rc != nil && rc.Addr != nil {
		return rc.Addr.String()
	}
	return ""
}
