//go:build !linux

package filesystem

import (
	"context"
	"errors"
	"time"
)

// stamps has nothing to hold where records are written as files.
type stamps struct{}

// Stamp is not supported here (storagedriver.Stamper): it needs Linux's
// O_TMPFILE and /proc/self/fd.
func (d *driver) Stamp(ctx context.Context, p string) (time.Time, error) {
	return time.Time{}, errors.ErrUnsupported
}
