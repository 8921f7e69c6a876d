package observed

import (
	"testing"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestEveryCombination proves that each of the sixteen combinations of
// optional capabilities gives a value with exactly those: the drivers of
// this module show only a few of them.
func TestEveryCombination(t *testing.T) {
	o := &Driver{d: inmemory.New()}
	for caps := range 16 {
		got := withCaps(o, caps)
		if c := capsOf(got); c != caps {
			t.Errorf("capabilities %04b: the value has %04b", caps, c)
		}
		if _, ok := got.(interface{ Unwrap() storagedriver.Driver }); !ok {
			t.Errorf("capabilities %04b: no Unwrap", caps)
		}
	}
}
