package bench

import (
	"crypto/rand"
	"crypto/sha256"
	"io"

	"github.com/opencontainers/go-digest"
)

// baseSize is the period of generated blob content.
const baseSize = 4 << 20

// source generates blob contents fast enough not to slow the client down:
// every blob is a window on one random buffer, shifted by a number of its
// own, so that blobs of different shifts have different digests (a
// registry cannot deduplicate them) while producing a byte costs a copy.
type source struct {
	base []byte
}

func newSource() *source {
	b := make([]byte, baseSize)
	rand.Read(b)
	return &source{base: b}
}

// content is one generated blob.
type content struct {
	src   *source
	shift int64
	size  int64
	dgst  digest.Digest
}

// blob returns the blob of size bytes for shift number n, its digest
// computed (before any timing starts).
func (s *source) blob(n, size int64) (*content, error) {
	c := &content{src: s, shift: (n * 4099) % baseSize, size: size}
	h := sha256.New()
	if _, err := io.Copy(h, c.reader()); err != nil {
		return nil, err
	}
	c.dgst = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	return c, nil
}

// ReadAt fills p with the content at off.
func (c *content) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := c.size - off; int64(want) > rest {
		p = p[:rest]
	}
	n := 0
	for n < len(p) {
		i := (off + int64(n) + c.shift) % baseSize
		n += copy(p[n:], c.src.base[i:])
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// reader reads the whole blob.
func (c *content) reader() io.Reader { return io.NewSectionReader(c, 0, c.size) }
