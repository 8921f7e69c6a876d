package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/hostagent/errdefs"
)

// EachEntry calls fn with each entry of tr in turn (fn may read the
// entry's content from tr) until the end of the tar, an error of fn, or
// the end of ctx. A tar that cannot be read is errdefs.ErrCorrupt, told
// as what.
func EachEntry(ctx context.Context, tr *tar.Reader, what string, fn func(hdr *tar.Header) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v: %w", what, err, errdefs.ErrCorrupt)
		}
		if err := fn(hdr); err != nil {
			return err
		}
	}
}
