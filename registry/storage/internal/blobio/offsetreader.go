package blobio

import (
	"errors"
	"io"
)

// OffsetReader adapts a driver without random access to io.ReadSeeker: Seek
// only records the offset, and the next Read opens the driver's reader there.
// It lets http.ServeContent answer range requests on every driver.
type OffsetReader struct {
	size   int64
	offset int64
	open   func(offset int64) (io.ReadCloser, error)
	rc     io.ReadCloser
}

// NewOffsetReader returns an OffsetReader over size bytes that open reads
// from a given offset on.
func NewOffsetReader(size int64, open func(int64) (io.ReadCloser, error)) *OffsetReader {
	return &OffsetReader{size: size, open: open}
}

// Read reads from the offset, opening the driver's reader there first.
func (r *OffsetReader) Read(p []byte) (int, error) {
	if r.offset >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.open(r.offset)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.offset += int64(n)
	return n, err
}

// Seek records the offset; the next Read opens the driver's reader there.
func (r *OffsetReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.offset
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	if offset != r.offset && r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
	r.offset = offset
	return offset, nil
}

// Close closes the driver's reader, if one is open.
func (r *OffsetReader) Close() error {
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}
