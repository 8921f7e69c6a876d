package filesystem

// StampThroughProc makes d link its stamps through /proc/self/fd, as
// where the kernel refuses linkat(AT_EMPTY_PATH) to this process.
func StampThroughProc(d *Driver) {
	d.be.stamps.mu.Lock()
	defer d.be.stamps.mu.Unlock()
	d.be.stamps.byFd = 2
	if c := d.be.stamps.cur; c != nil {
		c.byFd = false
	}
}

// StampsByFd reports whether d's current stamp inode is linked from its
// descriptor.
func StampsByFd(d *Driver) bool {
	d.be.stamps.mu.Lock()
	defer d.be.stamps.mu.Unlock()
	return d.be.stamps.cur != nil && d.be.stamps.cur.byFd
}
