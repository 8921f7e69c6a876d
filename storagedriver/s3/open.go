package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth-registry/berth/storagedriver"
)

// Open returns random access to the object at p: Seek only moves a
// position, and Read GETs the range from there to the end, keeping the body
// for the reads that follow. http.ServeContent's range requests thus cost
// one GET per range. ErrPathNotFound when there is no object at p.
func (d *driver) Open(ctx context.Context, p string) (io.ReadSeekCloser, error) {
	fi, err := d.statFile(ctx, p)
	if err != nil {
		return nil, err
	}
	return &object{d: d, ctx: ctx, path: p, size: fi.Size}, nil
}

// OpenSized checks p and ctx, then opens through the backend
// (storagedriver.SizedOpener).
func (d *Driver) OpenSized(ctx context.Context, p string, size int64) (io.ReadSeekCloser, error) {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return d.be.OpenSized(ctx, p, size)
}

// OpenSized (of the backend) is Open of an object whose size the caller knows, without
// Open's HEAD: a blob GET thus costs S3 one GET. A missing object is
// ErrPathNotFound at the first Read.
func (d *driver) OpenSized(ctx context.Context, p string, size int64) (io.ReadSeekCloser, error) {
	if size < 0 {
		return nil, fmt.Errorf("%s of size %d: %w", p, size, storagedriver.ErrInvalidOffset)
	}
	return &object{d: d, ctx: ctx, path: p, size: size}, nil
}

// object is an opened object. Like *os.File it is used by one goroutine at
// a time. It keeps the context of Open because io.Reader's Read has none.
type object struct {
	d    *driver
	ctx  context.Context
	path string
	size int64
	pos  int64         // where the next Read starts
	body io.ReadCloser // a GET from pos to the end (or to until), or nil
	// The range ExpectRange announced: a GET starting at from asks for
	// the bytes up to until only (exclusive; 0: none announced).
	from, until int64
}

var _ storagedriver.RangeExpecter = (*object)(nil)

// ExpectRange makes the GET that starts at start ask for the bytes up to
// end only (storagedriver.RangeExpecter): the answer ends where the
// caller stops reading, and its connection goes back to the pool.
func (o *object) ExpectRange(start, end int64) {
	if start >= 0 && end > start {
		o.from, o.until = start, min(end, o.size)
	}
}

func (o *object) Read(b []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.body == nil {
		end := int64(0)
		if o.until > 0 && o.pos == o.from && o.pos < o.until {
			end = o.until
		}
		body, err := o.d.getRange(o.ctx, o.path, o.pos, end)
		if err != nil {
			if apiCode(err) == "InvalidRange" { // the object shrank under us
				return 0, io.EOF
			}
			return 0, err
		}
		o.body = body
	}
	n, err := o.body.Read(b)
	o.pos += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		o.drop()
		return n, fail(o.ctx, "GetObject", o.path, err)
	}
	if errors.Is(err, io.EOF) {
		o.drop()
		if o.pos < o.size {
			err = nil // the next Read asks again from here
		}
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = o.pos + offset
	case io.SeekEnd:
		pos = o.size + offset
	default:
		return o.pos, fmt.Errorf("s3: seek whence %d", whence)
	}
	if pos < 0 {
		return o.pos, fmt.Errorf("s3: seek to %d: %w", pos, storagedriver.ErrInvalidOffset)
	}
	if pos != o.pos {
		o.drop()
		o.pos = pos
	}
	return pos, nil
}

func (o *object) Close() error {
	o.drop()
	return nil
}

func (o *object) drop() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

// RedirectURL returns a presigned URL for GET or HEAD of the object at p,
// valid for 20 minutes, when redirects are on (Params.Redirect); "" for any
// other method or with redirects off, meaning "serve it yourself".
func (d *driver) RedirectURL(ctx context.Context, method, p string) (string, error) {
	if !d.p.Redirect {
		return "", nil
	}
	expires := s3.WithPresignExpires(redirectExpiry)
	switch method {
	case http.MethodGet:
		req, err := d.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(p))}, expires)
		if err != nil {
			return "", fail(ctx, "PresignGetObject", p, err)
		}
		return req.URL, nil
	case http.MethodHead:
		req, err := d.presign.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.p.Bucket, Key: aws.String(d.key(p))}, expires)
		if err != nil {
			return "", fail(ctx, "PresignHeadObject", p, err)
		}
		return req.URL, nil
	}
	return "", nil
}
