package osimage

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
)

// writeRootfsTar copies the root filesystem tar r (plain, gzip or zstd) to
// w as an uncompressed layer, entry by entry: names are checked as an
// unpack checks them (no absolute path, no ..; a hardlink's target too),
// and lim bounds the entries and bytes. Whiteouts make no sense in a base
// and are refused.
func writeRootfsTar(ctx context.Context, w io.Writer, r io.Reader, lim layer.Limits) error {
	lim = lim.WithDefaults()
	zr, _, err := archive.Decompress(r)
	if err != nil {
		return fmt.Errorf("root filesystem: %v: %w", err, errdefs.ErrCorrupt)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	tw := tar.NewWriter(w)
	var written int64
	entries := 0
	err = layer.EachEntry(ctx, tr, "root filesystem tar", func(hdr *tar.Header) error {
		if entries++; entries > lim.MaxEntries {
			return layer.Unsafef("root filesystem: more than %d entries", lim.MaxEntries)
		}
		if _, err := layer.CleanEntryName(hdr.Name); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			if _, err := layer.CleanEntryName(hdr.Linkname); err != nil {
				return fmt.Errorf("hardlink %s: %w", hdr.Name, err)
			}
		}
		if isWhiteout(hdr.Name) {
			return fmt.Errorf("root filesystem: %s is a whiteout, which only a layer over a base may hold: %w", hdr.Name, errdefs.ErrInvalid)
		}
		if hdr.Size < 0 || hdr.Size > lim.MaxBytes-written {
			return layer.Unsafef("root filesystem: %s: %d bytes would pass the limit of %d", hdr.Name, hdr.Size, lim.MaxBytes)
		}
		written += hdr.Size
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("root filesystem: %s: %w", hdr.Name, err)
		}
		if n, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("root filesystem: %s: %v: %w", hdr.Name, err, errdefs.ErrCorrupt)
		} else if n != hdr.Size && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) {
			return fmt.Errorf("root filesystem: %s: truncated: %w", hdr.Name, errdefs.ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What follows the end marker is tar padding or junk; the layer ends
	// here either way.
	return tw.Close()
}

func isWhiteout(name string) bool {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	return len(name) >= 4 && name[:4] == ".wh."
}

// writeRootfsDir writes the tree under dir as an uncompressed layer, as
// a commit writes a container's changes: modes, owners, symlinks, hard
// links, device nodes and xattrs kept, entries sorted, times in seconds.
func writeRootfsDir(ctx context.Context, w io.Writer, dir string, lim layer.Limits) error {
	lim = lim.WithDefaults()
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: %w", dir, errdefs.ErrInvalid)
	}
	rec, err := layer.RecordTree(ctx, dir, layer.Record{})
	if err != nil {
		return err
	}
	if len(rec.Files) > lim.MaxEntries {
		return layer.Unsafef("root filesystem %s: %d entries, more than the limit of %d", dir, len(rec.Files), lim.MaxEntries)
	}
	var total int64
	for _, f := range rec.Files {
		if total += f.Size; total > lim.MaxBytes {
			return layer.Unsafef("root filesystem %s: more than the limit of %d bytes", dir, lim.MaxBytes)
		}
	}
	changes, _ := layer.DiffTrees(nil, rec.Files)
	return layer.WriteLayer(ctx, w, dir, changes, nil)
}
