package osimage

import (
	"bytes"
	"encoding/binary"
	"io"
	"sort"
	"sync"
)

// headerSize is the size of a WIM header on disk; go-winio reads a few
// bytes more, which the view serves from what follows.
const headerSize = 208

// Offsets in the header of the fields the view rewrites past BootMetadata.
const integrityAt = 124

// flatWIM presents an XPRESS WIM as the uncompressed WIM go-winio reads:
// a header without compression flags, then every resource of the lookup
// table (metadata resources too) and the XML data decompressed one after
// the other, then a lookup table naming their new places, all computed
// lazily from the file. A read decompresses only the chunks it touches,
// through a small cache, so an image is read in one pass over its streams
// and no temporary copy of the whole WIM is made. The integrity table is
// dropped: the SHA-1 of every stream is checked as it is read.
type flatWIM struct {
	segs []segment // by virt, contiguous
	size int64

	mu      sync.Mutex
	cache   [flatCacheSlots]cachedChunk
	tick    uint64
	scratch scratch
}

// segment is a range of the view: bytes held in memory, or a resource of
// the file.
type segment struct {
	virt int64
	n    int64
	data []byte    // nil for a resource
	rr   resReader // reads the file for an uncompressed resource
}

type cachedChunk struct {
	seg, chunk int64
	used       uint64
	buf        []byte
}

// Chunks kept decompressed: go-winio reads directories with many small
// reads across a metadata resource and streams in small pieces.
const flatCacheSlots = 8

// newFlatWIM builds the view of the WIM f of header h (raw, its bytes)
// and lookup table entries, as checked by checkWIM.
func newFlatWIM(f io.ReaderAt, raw []byte, h wimHeader, entries []lookupEntry) (*flatWIM, error) {
	chunk, c := h.chunking()
	v := &flatWIM{size: headerSize}
	for i := range v.cache {
		v.cache[i].seg = -1
	}
	placed := map[resource]resource{}
	place := func(r resource) resource {
		if r.OriginalSize == 0 {
			return resource{SizeAndFlags: uint64(r.flags()&^resCompressed) << 56}
		}
		if p, ok := placed[r]; ok {
			return p
		}
		p := resource{SizeAndFlags: uint64(r.OriginalSize) | uint64(r.flags()&^resCompressed)<<56, Offset: v.size, OriginalSize: r.OriginalSize}
		v.segs = append(v.segs, segment{virt: v.size, n: r.OriginalSize, rr: resReader{f: f, r: r, chunk: chunk, codec: c}})
		v.size += r.OriginalSize
		placed[r] = p
		return p
	}
	flat := make([]lookupEntry, len(entries))
	for i, e := range entries {
		flat[i] = e
		flat[i].Res = place(e.Res)
	}
	xmlData := place(h.XMLData)
	var boot resource
	if h.BootMetadata.OriginalSize != 0 {
		boot = placed[h.BootMetadata]
	}
	var table bytes.Buffer
	if err := binary.Write(&table, binary.LittleEndian, flat); err != nil {
		return nil, err
	}
	lookup := resource{SizeAndFlags: uint64(table.Len()), Offset: v.size, OriginalSize: int64(table.Len())}
	v.segs = append(v.segs, segment{virt: v.size, n: int64(table.Len()), data: table.Bytes()})
	v.size += int64(table.Len())

	hdr := h
	hdr.Flags &^= hdrCompressed | hdrCompressXpress | hdrCompressLZX | hdrCompressLZMS
	hdr.CompressionSize = wimChunk
	hdr.LookupTable, hdr.XMLData, hdr.BootMetadata = lookup, xmlData, boot
	var head bytes.Buffer
	if err := binary.Write(&head, binary.LittleEndian, hdr); err != nil {
		return nil, err
	}
	out := make([]byte, headerSize)
	copy(out, raw)
	copy(out, head.Bytes())
	clear(out[integrityAt : integrityAt+24])
	v.segs = append([]segment{{virt: 0, n: headerSize, data: out}}, v.segs...)
	return v, nil
}

// ReadAt reads the view.
func (v *flatWIM) ReadAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	done := 0
	for done < len(p) {
		at := off + int64(done)
		if at < 0 || at >= v.size {
			return done, io.EOF
		}
		i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].virt+v.segs[i].n > at })
		s := &v.segs[i]
		rel := at - s.virt
		want := min(int64(len(p)-done), s.n-rel)
		switch {
		case s.data != nil:
			copy(p[done:], s.data[rel:rel+want])
		case !s.rr.r.compressed():
			if _, err := s.rr.f.ReadAt(p[done:done+int(want)], s.rr.r.Offset+rel); err != nil {
				return done, corruptf("resource at %d: %v", s.rr.r.Offset, err)
			}
		default:
			b, err := v.chunk(int64(i), rel/s.rr.chunk)
			if err != nil {
				return done, err
			}
			in := rel % s.rr.chunk
			want = int64(copy(p[done:done+int(want)], b[in:]))
		}
		done += int(want)
	}
	return done, nil
}

// chunk returns chunk c of segment seg, from the cache or decompressed
// into its least recently used slot.
func (v *flatWIM) chunk(seg, c int64) ([]byte, error) {
	v.tick++
	lru := 0
	for i := range v.cache {
		e := &v.cache[i]
		if e.seg == seg && e.chunk == c {
			e.used = v.tick
			return e.buf, nil
		}
		if e.used < v.cache[lru].used {
			lru = i
		}
	}
	e := &v.cache[lru]
	rr := &v.segs[seg].rr
	if int64(cap(e.buf)) < rr.chunk {
		e.buf = make([]byte, rr.chunk)
	}
	b, err := rr.readChunk(c, e.buf[:cap(e.buf)], &v.scratch)
	if err != nil {
		e.seg = -1
		return nil, err
	}
	e.seg, e.chunk, e.used, e.buf = seg, c, v.tick, b
	return b, nil
}
