package s3

// TakeBackgroundSlots takes n of d's slots for background part uploads, as
// other writers' uploads would, until release is called.
func TakeBackgroundSlots(d *Driver, n int) (release func()) {
	for range n {
		d.be.background <- struct{}{}
	}
	return func() {
		for range n {
			<-d.be.background
		}
	}
}

// PartBuffers is partBuffers, for tests.
const PartBuffers = partBuffers
