package osimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/osimage/xpress"
)

// The WIM header fields this package checks before go-winio reads the
// file. Its layout (little-endian) up to the boot metadata is the same in
// every WIM version since 1.13.
type wimHeader struct {
	Tag             [8]byte
	Size            uint32
	Version         uint32
	Flags           uint32
	CompressionSize uint32
	GUID            [16]byte
	PartNumber      uint16
	TotalParts      uint16
	ImageCount      uint32
	LookupTable     resource
	XMLData         resource
	BootMetadata    resource
}

// resource is a WIM resource header: the compressed size (56 bits) and
// flags (8 bits), the offset in the file, the size once decompressed.
type resource struct {
	SizeAndFlags uint64
	Offset       int64
	OriginalSize int64
}

func (r resource) size() int64      { return int64(r.SizeAndFlags & (1<<56 - 1)) }
func (r resource) flags() byte      { return byte(r.SizeAndFlags >> 56) }
func (r resource) compressed() bool { return r.flags()&resCompressed != 0 }

// lookupEntry is one row of the lookup table: a resource, its part, its
// reference count and the SHA-1 of its content.
type lookupEntry struct {
	Res      resource
	Part     uint16
	RefCount uint32
	Hash     [20]byte
}

const (
	resFree       = 1 << 0
	resMetadata   = 1 << 1
	resCompressed = 1 << 2
	resSpanned    = 1 << 3

	hdrCompressed     = 1 << 1
	hdrSpanned        = 1 << 3
	hdrResourceOnly   = 1 << 4
	hdrMetadataOnly   = 1 << 5
	hdrWriting        = 1 << 6
	hdrCompressXpress = 1 << 17
	hdrCompressLZX    = 1 << 18
	hdrCompressLZMS   = 1 << 19

	wimChunk       = 32768 // the chunk size of LZX WIMs, XPRESS's default
	minXpressChunk = 4096

	// Bounds no real WIM reaches, for the parts go-winio reads whole.
	maxXMLSize         = 16 << 20
	maxLookupTableSize = 256 << 20
	maxMetadataSize    = 1 << 30
)

// chunking returns the chunk size and codec of the WIM's compressed
// resources (checkWIM has checked them).
func (h wimHeader) chunking() (int64, codec) {
	if h.Flags&hdrCompressed != 0 && h.Flags&hdrCompressXpress != 0 {
		return int64(h.CompressionSize), codecXpress
	}
	return wimChunk, codecLZX
}

var wimMagic = [8]byte{'M', 'S', 'W', 'I', 'M', 0, 0, 0}

// ErrNotWIM: the file does not start like a WIM.
var errNotWIM = errors.New("not a WIM file")

// corruptf formats an error of the class ErrCorrupt: a WIM that is
// truncated or whose structures contradict each other.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("WIM: "+format+": %w", append(args, errdefs.ErrCorrupt)...)
}

// checkWIM validates what go-winio would otherwise trust: every resource
// lies inside the file, no declared size exceeds lim (a "WIM bomb" that
// declares terabytes is refused here, before anything is allocated), the
// chunk tables of compressed resources fit in them, and the security
// descriptor table of each image is no larger than its metadata. It
// returns the header and the lookup table.
func checkWIM(f io.ReaderAt, fileSize int64, lim layer.Limits) (wimHeader, []lookupEntry, error) {
	var h wimHeader
	if err := binary.Read(io.NewSectionReader(f, 0, 1<<10), binary.LittleEndian, &h); err != nil {
		if fileSize < int64(binary.Size(h)) && fileSize >= 8 {
			return h, nil, corruptf("header truncated (%d bytes)", fileSize)
		}
		return h, nil, errNotWIM
	}
	if h.Tag != wimMagic {
		return h, nil, errNotWIM
	}
	switch {
	case h.Flags&(hdrSpanned) != 0 || h.TotalParts != 1:
		return h, nil, fmt.Errorf("WIM: split (spanned) WIMs are not supported; join them with wimlib-imagex optimize or export: %w", errdefs.ErrInvalid)
	case h.Flags&(hdrResourceOnly|hdrMetadataOnly) != 0:
		return h, nil, fmt.Errorf("WIM: resource-only or metadata-only WIMs hold no whole image: %w", errdefs.ErrInvalid)
	case h.Flags&hdrWriting != 0:
		return h, nil, corruptf("the file was being written and never finished")
	case h.Flags&hdrCompressed != 0 && h.Flags&(hdrCompressLZX|hdrCompressXpress) == 0:
		kind := "an unknown compression"
		if h.Flags&hdrCompressLZMS != 0 {
			kind = "LZMS (solid) compression"
		}
		return h, nil, fmt.Errorf("WIM uses %s, which this reader does not decode: convert it with `wimlib-imagex export SRC.wim all DST.wim --compress=LZX` (or --compress=none): %w", kind, errdefs.ErrInvalid)
	case h.Flags&hdrCompressed != 0 && h.Flags&hdrCompressLZX != 0 && h.CompressionSize != wimChunk:
		return h, nil, fmt.Errorf("WIM: LZX chunk size %d: only %d is supported: %w", h.CompressionSize, wimChunk, errdefs.ErrInvalid)
	case h.Flags&hdrCompressed != 0 && h.Flags&hdrCompressXpress != 0 &&
		(h.CompressionSize < minXpressChunk || h.CompressionSize > xpress.MaxChunk || h.CompressionSize&(h.CompressionSize-1) != 0):
		return h, nil, fmt.Errorf("WIM: XPRESS chunk size %d: a power of two from %d to %d is supported: %w", h.CompressionSize, minXpressChunk, xpress.MaxChunk, errdefs.ErrInvalid)
	}
	chunk, c := h.chunking()
	if err := checkResource("XML data", h.XMLData, fileSize, maxXMLSize, chunk); err != nil {
		return h, nil, err
	}
	if err := checkResource("lookup table", h.LookupTable, fileSize, maxLookupTableSize, chunk); err != nil {
		return h, nil, err
	}
	raw, err := io.ReadAll(newChunkReader(f, h.LookupTable, chunk, c))
	if err != nil {
		return h, nil, fmt.Errorf("lookup table: %w", err)
	}
	entrySize := binary.Size(lookupEntry{})
	if len(raw)%entrySize != 0 {
		return h, nil, corruptf("lookup table of %d bytes is not a whole number of entries", len(raw))
	}
	entries := make([]lookupEntry, len(raw)/entrySize)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, entries); err != nil {
		return h, nil, corruptf("lookup table: %v", err)
	}
	if len(entries) > lim.MaxEntries {
		return h, nil, layer.Unsafef("WIM: %d streams exceed the limit of %d entries", len(entries), lim.MaxEntries)
	}
	images := 0
	for i, e := range entries {
		if e.Res.flags()&(resSpanned|resFree) != 0 {
			return h, nil, corruptf("lookup entry %d: spanned or free resource", i)
		}
		what, max := "stream", lim.MaxBytes
		if e.Res.flags()&resMetadata != 0 {
			what, max = "image metadata", maxMetadataSize
			images++
		}
		if err := checkResource(fmt.Sprintf("%s %d", what, i), e.Res, fileSize, max, chunk); err != nil {
			return h, nil, err
		}
		if e.Res.flags()&resMetadata != 0 {
			if err := checkSecurityTable(newChunkReader(f, e.Res, chunk, c), e.Res); err != nil {
				return h, nil, fmt.Errorf("image %d: %w", images, err)
			}
		}
	}
	if images != int(h.ImageCount) {
		return h, nil, corruptf("header says %d images, lookup table holds %d", h.ImageCount, images)
	}
	return h, entries, nil
}

// checkResource checks that r lies inside the file and declares at most max
// bytes, and that a compressed one has room for its table of chunks of
// chunk bytes.
func checkResource(what string, r resource, fileSize, max, chunk int64) error {
	size := r.size()
	if r.Offset < 0 || size < 0 || r.OriginalSize < 0 || r.Offset > fileSize || size > fileSize-r.Offset {
		return corruptf("%s (%d bytes at %d) lies past the end of the file (%d bytes): truncated?", what, size, r.Offset, fileSize)
	}
	if r.OriginalSize > max {
		return layer.Unsafef("WIM: %s declares %d bytes, more than the limit of %d", what, r.OriginalSize, max)
	}
	if !r.compressed() {
		if r.OriginalSize != size {
			return corruptf("%s: stored size %d, original size %d, yet not compressed", what, size, r.OriginalSize)
		}
		return nil
	}
	chunks := (r.OriginalSize + chunk - 1) / chunk
	entry := int64(4)
	if r.OriginalSize > 1<<32-1 {
		entry = 8
	}
	if chunks > 0 && (chunks-1)*entry > size {
		return corruptf("%s: chunk table of %d chunks does not fit in %d bytes", what, chunks, size)
	}
	return nil
}

// checkSecurityTable reads the security descriptor table at the start of
// an image's metadata and checks that its count and sizes fit the length
// it declares, which must fit the metadata.
func checkSecurityTable(rd io.Reader, r resource) error {
	var head struct{ Total, Count uint32 }
	if err := binary.Read(rd, binary.LittleEndian, &head); err != nil {
		return corruptf("security table: %v", err)
	}
	if int64(head.Total) > r.OriginalSize || 8+int64(head.Count)*8 > int64(head.Total) {
		return corruptf("security table: %d descriptors in %d bytes of %d bytes of metadata", head.Count, head.Total, r.OriginalSize)
	}
	sum := int64(8 + 8*int64(head.Count))
	for i := uint32(0); i < head.Count; i++ {
		var n uint64
		if err := binary.Read(rd, binary.LittleEndian, &n); err != nil {
			return corruptf("security table: %v", err)
		}
		sum += int64(n & 0xffffffff)
		if sum > int64(head.Total) {
			return corruptf("security descriptors overrun their table (%d bytes)", head.Total)
		}
	}
	return nil
}
