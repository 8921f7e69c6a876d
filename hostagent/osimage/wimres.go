package osimage

import (
	"encoding/binary"
	"io"

	"github.com/Microsoft/go-winio/wim/lzx"

	"github.com/berth-registry/berth/hostagent/osimage/xpress"
)

// codec is the compression of a WIM's compressed resources.
type codec int

const (
	codecLZX codec = iota
	codecXpress
)

// resReader reads the chunks of one resource. A compressed resource is a
// chunk table (the offset of each chunk but the first, relative to the
// table's end; 8 bytes an entry for a resource of 4 GiB or more, else 4)
// and the chunks, each compressed alone to at most chunk bytes, or stored
// as is when that would not shrink it.
type resReader struct {
	f     io.ReaderAt
	r     resource
	chunk int64
	codec codec
}

// scratch is what decompressing a chunk needs besides its output: an
// XPRESS decoder's tables and room for the compressed bytes. One is shared
// by all the resources a reader reads, one chunk at a time.
type scratch struct {
	xp  xpress.Decoder
	src []byte
}

// chunks is the number of chunks of a compressed resource.
func (c *resReader) chunks() int64 { return (c.r.OriginalSize + c.chunk - 1) / c.chunk }

func (c *resReader) entrySize() int64 {
	if c.r.OriginalSize > 1<<32-1 {
		return 8
	}
	return 4
}

// tableEntry returns where chunk i starts, relative to the end of the
// chunk table, for 0 < i < chunks.
func (c *resReader) tableEntry(i int64) (int64, error) {
	var b [8]byte
	n := c.entrySize()
	if _, err := c.f.ReadAt(b[:n], c.r.Offset+(i-1)*n); err != nil {
		return 0, corruptf("chunk table: %v", err)
	}
	if n == 4 {
		return int64(binary.LittleEndian.Uint32(b[:])), nil
	}
	return int64(binary.LittleEndian.Uint64(b[:]) & (1<<63 - 1)), nil
}

// readChunk decompresses chunk i of a compressed resource into dst (of
// cap at least chunk) and returns it, resliced to the chunk's size.
func (c *resReader) readChunk(i int64, dst []byte, s *scratch) ([]byte, error) {
	n := c.chunks()
	if i < 0 || i >= n {
		return nil, corruptf("chunk %d of %d", i, n)
	}
	tableLen := (n - 1) * c.entrySize()
	data := c.r.size() - tableLen
	start, end := int64(0), data
	var err error
	if i > 0 {
		if start, err = c.tableEntry(i); err != nil {
			return nil, err
		}
	}
	if i < n-1 {
		if end, err = c.tableEntry(i + 1); err != nil {
			return nil, err
		}
	}
	want := c.chunk
	if i == n-1 {
		want = c.r.OriginalSize - i*c.chunk
	}
	stored := end - start
	if start < 0 || end > data || stored < 0 || stored > want {
		return nil, corruptf("chunk %d: %d bytes stored at %d of %d for %d", i, stored, start, data, want)
	}
	dst = dst[:want]
	at := c.r.Offset + tableLen + start
	if stored == want {
		if _, err := c.f.ReadAt(dst, at); err != nil {
			return nil, corruptf("chunk %d: %v", i, err)
		}
		return dst, nil
	}
	if c.codec == codecLZX {
		d, err := lzx.NewReader(io.NewSectionReader(c.f, at, stored), int(want))
		if err == nil {
			_, err = io.ReadFull(d, dst)
		}
		if err != nil {
			return nil, corruptf("chunk %d: %v", i, err)
		}
		return dst, nil
	}
	if int64(cap(s.src)) < stored {
		s.src = make([]byte, c.chunk)
	}
	src := s.src[:stored]
	if _, err := c.f.ReadAt(src, at); err != nil {
		return nil, corruptf("chunk %d: %v", i, err)
	}
	if err := s.xp.Decode(dst, src); err != nil {
		return nil, corruptf("chunk %d: %v", i, err)
	}
	return dst, nil
}

// chunkReader reads a resource from its start, a chunk at a time.
type chunkReader struct {
	rr   resReader
	s    scratch
	next int64
	buf  []byte
	cur  []byte
}

// newChunkReader returns a reader of the resource's content.
func newChunkReader(f io.ReaderAt, r resource, chunk int64, c codec) io.Reader {
	if !r.compressed() {
		return io.NewSectionReader(f, r.Offset, r.size())
	}
	return &chunkReader{rr: resReader{f: f, r: r, chunk: chunk, codec: c}}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.next >= c.rr.chunks() {
			return 0, io.EOF
		}
		if c.buf == nil {
			c.buf = make([]byte, c.rr.chunk)
		}
		var err error
		if c.cur, err = c.rr.readChunk(c.next, c.buf, &c.s); err != nil {
			return 0, err
		}
		c.next++
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}
