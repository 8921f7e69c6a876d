package osimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
)

// XPRESS WIMs of several images, with hard links, install as apply
// extracts them: see the XPRESS cases of TestWIMLayerMatchesApply. These
// tests are about the damaged ones.

// xpressWIM captures testTree into an XPRESS WIM and returns its path and
// bytes, the offset of its lookup table, and its largest stream, a
// resource of several chunks.
func xpressWIM(t *testing.T, dir string, extra ...string) (string, []byte, int64, lookupEntry) {
	t.Helper()
	path := filepath.Join(dir, "xpress.wim")
	wimlib(t, append(append([]string{"capture", testTree(t, "x"), path, "X", "--compress=XPRESS"}, extra...), windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tableAt, entries := lookupTable(t, data)
	var big lookupEntry
	for _, e := range entries {
		if e.Res.flags()&resMetadata == 0 && e.Res.OriginalSize > big.Res.OriginalSize {
			big = e
		}
	}
	if !big.Res.compressed() || big.Res.OriginalSize <= 2*wimChunk {
		t.Fatalf("largest stream %+v: not compressed in several chunks", big.Res)
	}
	return path, data, tableAt, big
}

func TestWIMXpressBrokenLeavesStoreUnchanged(t *testing.T) {
	dir := t.TempDir()
	good, data, tableAt, big := xpressWIM(t, dir)
	entrySize := int64(binary.Size(lookupEntry{}))
	chunks := (big.Res.OriginalSize + wimChunk - 1) / wimChunk
	chunkData := big.Res.Offset + (chunks-1)*4 // the first chunk: its Huffman table, then its bits
	second := chunkData + int64(binary.LittleEndian.Uint32(data[big.Res.Offset:]))
	if second-chunkData < 264 {
		t.Fatalf("first chunk of %d bytes: too short to damage its bit stream", second-chunkData)
	}
	index := bytes.Index(data[tableAt:], big.Hash[:])
	if index < 0 {
		t.Fatal("largest stream not found in the lookup table")
	}
	bigAt := tableAt + int64(index) - (entrySize - 20) // its entry
	variant := variants(t, dir, data)
	flip := func(at int64, mask byte) func(b []byte) []byte {
		return func(b []byte) []byte { b[at] ^= mask; return b }
	}
	refusedAll(t, good, []brokenCase{
		{"truncated", errdefs.ErrCorrupt, variant("truncated.wim", func(b []byte) []byte { return b[:len(b)*6/10] }), layer.Limits{}},
		{"bit flipped in a chunk's bit stream", errdefs.ErrCorrupt, variant("bits.wim", flip(chunkData+258, 0x10)), layer.Limits{}},
		{"Huffman table over-subscribed", errdefs.ErrCorrupt, variant("table.wim", func(b []byte) []byte {
			for i := chunkData; i < chunkData+256; i++ {
				b[i] = 0x11 // every symbol 1 bit long
			}
			return b
		}), layer.Limits{}},
		{"chunk table out of order", errdefs.ErrCorrupt, variant("chunktable.wim", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[big.Res.Offset+4:], 1)
			return b
		}), layer.Limits{}},
		{"bomb: a stream declares 1 TiB", errdefs.ErrUnsafe, variant("bomb.wim", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[bigAt+16:], 1<<40)
			return b
		}), layer.Limits{}},
		{"bomb: more than the byte limit", errdefs.ErrUnsafe, good, layer.Limits{MaxBytes: 64 << 10}},
		{"chunk size past 64 KiB", errdefs.ErrInvalid, variant("chunksize.wim", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[20:], 1<<17)
			return b
		}), layer.Limits{}},
	})
}

// A bit flipped in a stream's first chunk (in its Huffman table, every
// 16th byte, and in each byte of its bit stream) gives ErrCorrupt (a SHA-1
// mismatch if nothing else), or, where the bit is padding the decoder
// never uses, the same layer: never a panic or another class of error.
func TestWIMXpressFlipsCaught(t *testing.T) {
	dir := t.TempDir()
	good, data, _, big := xpressWIM(t, dir)
	res, err := install(t, openStore(t), good, Options{}, "localhost/good:1")
	if err != nil {
		t.Fatal(err)
	}
	chunks := (big.Res.OriginalSize + wimChunk - 1) / wimChunk
	start := big.Res.Offset + (chunks-1)*4
	end := start + int64(binary.LittleEndian.Uint32(data[big.Res.Offset:]))
	p := filepath.Join(dir, "flipped.wim")
	caught := 0
	for at := start; at < end; at++ {
		if at < start+256 && (at-start)%16 != 0 {
			continue
		}
		b := bytes.Clone(data)
		b[at] ^= 1 << (at % 8)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := install(t, openStore(t), p, Options{}, "localhost/flip:1")
		switch {
		case err == nil && got.Layer.Digest != res.Layer.Digest:
			t.Errorf("byte %d of the chunk flipped: installed a different layer", at-start)
		case err != nil && !errors.Is(err, errdefs.ErrCorrupt):
			t.Errorf("byte %d of the chunk flipped: %v, want ErrCorrupt", at-start, err)
		case err != nil:
			caught++
		}
	}
	if caught < 16 {
		t.Errorf("only %d flips caught", caught)
	}
}

func TestWIMLZMSRefusedClearly(t *testing.T) {
	for _, flags := range []string{"--compress=LZMS", "--solid"} {
		wimPath := filepath.Join(t.TempDir(), "lzms.wim")
		wimlib(t, append([]string{"capture", testTree(t, "l"), wimPath, "L", flags}, windowsProps(17763, 1, 9, "ServerDatacenter")...)...)
		_, err := Open(wimPath, Options{})
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "LZMS") || !strings.Contains(err.Error(), "--compress=LZX") {
			t.Fatalf("Open of a %s WIM: %v, want an error naming LZMS and the conversion", flags, err)
		}
		// The conversion the message gives works, and so does one to XPRESS.
		for _, to := range []string{"LZX", "XPRESS"} {
			conv := filepath.Join(t.TempDir(), "conv.wim")
			wimlib(t, "export", wimPath, "all", conv, "--compress="+to)
			if _, err := install(t, openStore(t), conv, Options{}, "localhost/l:1"); err != nil {
				t.Fatalf("the WIM exported with --compress=%s: %v", to, err)
			}
		}
	}
}
