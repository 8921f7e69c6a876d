package archive

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
)

func TestCompressionRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat("a layer's bytes ", 1000))
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionZstd} {
		var buf bytes.Buffer
		zw, err := Compressor(&buf, c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if c != CompressionNone && buf.Len() >= len(data) {
			t.Errorf("%s: %d bytes from %d: not compressed", c, buf.Len(), len(data))
		}
		zr, got, err := Decompress(&buf)
		if err != nil || got != c {
			t.Fatalf("Decompress of %s: sniffed %q, %v", c, got, err)
		}
		back, err := io.ReadAll(zr)
		zr.Close()
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("%s: read back %d bytes, %v", c, len(back), err)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{"none": CompressionNone, "gzip": CompressionGzip, "zstd": CompressionZstd} {
		if got, err := ParseCompression(in); err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseCompression("bzip2"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("ParseCompression(bzip2): %v, want ErrInvalid", err)
	}
	for name, want := range map[string]Compression{"a.tar": CompressionNone, "a.tar.gz": CompressionGzip, "a.tgz": CompressionGzip, "a.tar.zst": CompressionZstd} {
		if got := CompressionForFile(name); got != want {
			t.Errorf("CompressionForFile(%q) = %q, want %q", name, got, want)
		}
	}
}
