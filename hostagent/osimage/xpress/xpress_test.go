package xpress

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The chunks in testdata were written by wimlib-imagex capture
// --compress=XPRESS --chunk-size=65536: text.xpress a Go source file of
// 11521 bytes (text.plain), repeat.xpress 40000 bytes of repeatOut, whose
// matches need the 16-bit long lengths.
func repeatOut() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 40000; i++ {
		fmt.Fprintf(&b, "MZ kernel %d ", i%7)
	}
	return b.Bytes()[:40000]
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeWimlibChunks(t *testing.T) {
	var d Decoder
	for _, tc := range []struct {
		name string
		want []byte
	}{
		{"text", readFile(t, "testdata/text.plain")},
		{"repeat", repeatOut()},
	} {
		src := readFile(t, "testdata/"+tc.name+".xpress")
		got := make([]byte, len(tc.want))
		if err := d.Decode(got, src); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: decoded bytes differ from the original", tc.name)
		}
	}
}

// table packs code lengths by symbol into the 256-byte table.
func table(lens map[int]uint8) []byte {
	b := make([]byte, 256)
	for sym, l := range lens {
		b[sym/2] |= l << (4 * (sym % 2))
	}
	return b
}

// stream packs a string of '0' and '1' into 16-bit little-endian words,
// most significant bit first, padding the last word (and at least two)
// with zeros.
func stream(bits string) []byte {
	for len(bits)%16 != 0 || len(bits) < 32 {
		bits += "0"
	}
	var out []byte
	for i := 0; i < len(bits); i += 16 {
		var w uint16
		for _, c := range bits[i : i+16] {
			w = w<<1 | uint16(c-'0')
		}
		out = append(out, byte(w), byte(w>>8))
	}
	return out
}

func chunk(lens map[int]uint8, bits string, extra ...byte) []byte {
	return append(append(table(lens), stream(bits)...), extra...)
}

func TestDecodeHandMade(t *testing.T) {
	// 'A' is codeword 0, a match of length 3 at offset 1 (symbol 256) is 1.
	oneBack := map[int]uint8{'A': 1, 256: 1}
	// 'A' 0, a match of length 15+ (symbol 271) 1.
	long := map[int]uint8{'A': 1, 256 + 15: 1}
	// 'A' 0, a match with 15 offset bits and length 3 (symbol 256+15<<4) 1.
	far := map[int]uint8{'A': 1, 256 + 15<<4: 1}
	for _, tc := range []struct {
		name, want, err string
		size            int
		src             []byte
	}{
		{name: "literal and overlapping match", size: 4, src: chunk(oneBack, "01"), want: "AAAA"},
		{name: "long length byte", size: 1 + 3 + 15 + 2, src: chunk(long, "01", 2), want: strings.Repeat("A", 21)},
		{name: "long length 16-bit", size: 1 + 3 + 300, src: chunk(long, "01", 255, 44, 1), want: strings.Repeat("A", 304)},
		{name: "empty output", size: 0, src: chunk(nil, ""), want: ""},
		{name: "short of its table", size: 1, src: make([]byte, 255), err: "shorter than its Huffman table"},
		{name: "over-subscribed", size: 1, src: chunk(map[int]uint8{1: 1, 2: 1, 3: 1}, ""), err: "over-subscribes"},
		{name: "no codes", size: 1, src: chunk(nil, ""), err: "no Huffman codeword"},
		{name: "unused codeword", size: 2, src: chunk(map[int]uint8{'A': 1}, "01"), err: "no Huffman codeword"},
		{name: "match before the start", size: 4, src: chunk(oneBack, "1"), err: "before the start"},
		{name: "far match before the start", size: 8, src: chunk(far, "0"+"1"+"000000000000000"), err: "before the start"},
		{name: "match overruns the chunk", size: 3, src: chunk(oneBack, "01"), err: "overruns"},
		{name: "long match overruns the chunk", size: 100, src: chunk(long, "01", 255, 0xff, 0xff), err: "overruns"},
		{name: "32-bit length overruns", size: 100, src: chunk(long, "01", 255, 0, 0, 0xff, 0xff, 0xff, 0xff), err: "overruns"},
		{name: "stream ends in a length", size: 100, src: chunk(long, "01"), err: "ends inside a match length"},
		{name: "stream ends in a 16-bit length", size: 100, src: chunk(long, "01", 255, 1), err: "ends inside a match length"},
		{name: "long length below 15", size: 100, src: chunk(long, "01", 255, 3, 0), err: "long match length of 3"},
		{name: "output over 64 KiB", size: MaxChunk + 1, src: chunk(oneBack, ""), err: "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			dst := make([]byte, tc.size)
			err := d.Decode(dst, tc.src)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.err == "" && string(dst) != tc.want:
				t.Errorf("Decode = %q, want %q", dst, tc.want)
			case tc.err != "" && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("Decode: %v, want ErrCorrupt saying %q", err, tc.err)
			}
		})
	}
}

// FuzzXpressDecode: no input makes Decode panic, read or write out of
// bounds or fail without ErrCorrupt; what it accepts decodes the same
// twice (no state leaks between chunks).
func FuzzXpressDecode(f *testing.F) {
	f.Add(readFile(f, "testdata/text.xpress"), uint16(11521-1))
	f.Add(readFile(f, "testdata/repeat.xpress"), uint16(40000-1))
	f.Add(chunk(map[int]uint8{'A': 1, 271: 1}, "01", 255, 44, 1), uint16(303))
	f.Add(chunk(map[int]uint8{'A': 2, 'B': 2, 256 + 15<<4: 2, 256 + 3<<4 + 15: 3, 300: 3}, "0001101101011110000", 9), uint16(200))
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		var d Decoder
		dst := make([]byte, int(size)+1)
		err := d.Decode(dst, src)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		again := make([]byte, len(dst))
		if err := d.Decode(again, src); err != nil || !bytes.Equal(again, dst) {
			t.Fatalf("a second decode gave %v or other bytes", err)
		}
	})
}

func BenchmarkDecodeText(b *testing.B) {
	src, want := readFile(b, "testdata/text.xpress"), readFile(b, "testdata/text.plain")
	dst := make([]byte, len(want))
	var d Decoder
	b.SetBytes(int64(len(want)))
	for b.Loop() {
		if err := d.Decode(dst, src); err != nil {
			b.Fatal(err)
		}
	}
}
