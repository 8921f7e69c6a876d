package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/store"
)

// Compression is how an archive or a layer is compressed.
//
// zstd comes from github.com/klauspost/compress: the standard library has
// no zstd, and that package is already in the module graph (through
// distribution), pure Go, and the implementation containerd,
// containers/image and go-containerregistry use for zstd layers.
type Compression string

// The compressions an archive or a layer can have.
const (
	CompressionNone Compression = "none"
	CompressionGzip Compression = "gzip"
	CompressionZstd Compression = "zstd"
)

// zstdMaxMemory bounds what a zstd stream may make the decoder allocate
// (its window), so that a hostile frame header cannot ask for gigabytes.
const zstdMaxMemory = 256 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// ParseCompression reads none, gzip or zstd ("" is none).
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "", "none", "tar":
		return CompressionNone, nil
	case "gzip", "gz":
		return CompressionGzip, nil
	case "zstd", "zst":
		return CompressionZstd, nil
	}
	return "", fmt.Errorf("compression %q: want none, gzip or zstd: %w", s, errdefs.ErrInvalid)
}

// CompressionForFile guesses the compression from a file name: .tar.gz,
// .tgz and .gz are gzip, .tar.zst, .tzst and .zst zstd, anything else none.
func CompressionForFile(name string) Compression {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".gz"), strings.HasSuffix(n, ".tgz"):
		return CompressionGzip
	case strings.HasSuffix(n, ".zst"), strings.HasSuffix(n, ".tzst"), strings.HasSuffix(n, ".zstd"):
		return CompressionZstd
	}
	return CompressionNone
}

// sniff tells the compression of what br holds from its first bytes.
func sniff(br *bufio.Reader) Compression {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return CompressionGzip
	case bytes.HasPrefix(head, zstdMagic):
		return CompressionZstd
	}
	return CompressionNone
}

// Decompress returns the decompressed content of r, whatever its
// compression (gzip, zstd or none, told by magic bytes), and that
// compression. Close releases the decoder, not r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c := sniff(br)
	switch c {
	case CompressionGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("gzip: %w", err)
		}
		return zr, c, nil
	case CompressionZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return nil, c, fmt.Errorf("zstd: %w", err)
		}
		return zstdReadCloser{zr}, c, nil
	}
	return io.NopCloser(br), c, nil
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }

// Compressor wraps w so that what is written to it lands in w compressed
// with c. Its output is deterministic: gzip without name or time in its
// header, at a fixed level; zstd at a fixed level, on one goroutine.
func Compressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case CompressionNone, "":
		return nopWriteCloser{w}, nil
	case CompressionGzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case CompressionZstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("compression %q: %w", c, errdefs.ErrInvalid)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// PublishGzipLayer publishes, through pub, the layer that write writes
// (an uncompressed tar), gzip-compressed as Compressor compresses, and
// returns its descriptor and its diff ID (the digest of the tar).
func PublishGzipLayer(ctx context.Context, pub *store.Publication, pattern string, write func(w io.Writer) error) (v1.Descriptor, digest.Digest, error) {
	diff := digest.SHA256.Digester()
	d, n, err := pub.Write(ctx, pattern, func(w io.Writer) error {
		zw, err := Compressor(w, CompressionGzip)
		if err != nil {
			return err
		}
		if err := write(io.MultiWriter(zw, diff.Hash())); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	return v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: d, Size: n}, diff.Digest(), nil
}
