package xpress

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	numSymbols = 512
	tableSize  = numSymbols / 2 // bytes of packed code lengths
	maxLen     = 15             // longest codeword
	fastBits   = 10             // codewords this short decode by one lookup
	minMatch   = 3

	// MaxChunk is the largest chunk Decode accepts: offsets reach back at
	// most 65535 bytes.
	MaxChunk = 1 << 16
)

// ErrCorrupt is wrapped by every error Decode returns.
var ErrCorrupt = errors.New("corrupt XPRESS data")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("XPRESS: "+format+": %w", append(args, ErrCorrupt)...)
}

// Decoder decodes chunks; its zero value is ready. It holds the decoding
// tables between calls so that decoding allocates nothing; it is not safe
// for concurrent use.
type Decoder struct {
	lens   [numSymbols]uint8
	count  [maxLen + 1]uint16    // codewords of each length
	sorted [numSymbols]uint16    // symbols in canonical order
	fast   [1 << fastBits]uint16 // symbol<<4 | length; 0: longer than fastBits
}

// Decode decompresses the chunk src into dst, which it fills exactly:
// len(dst) is the chunk's uncompressed size (at most MaxChunk).
func (d *Decoder) Decode(dst, src []byte) error {
	if len(dst) > MaxChunk {
		return corrupt("chunk of %d bytes exceeds %d", len(dst), MaxChunk)
	}
	if len(src) < tableSize {
		return corrupt("chunk of %d bytes is shorter than its Huffman table", len(src))
	}
	if err := d.build(src[:tableSize]); err != nil {
		return err
	}
	br := bitReader{src: src, pos: tableSize}
	br.refill()
	br.refill()
	out := 0
	for out < len(dst) {
		var sym uint16
		if e := d.fast[br.bits>>(32-fastBits)]; e != 0 {
			br.take(uint(e & 15))
			sym = e >> 4
		} else if s, err := d.slowSymbol(&br); err != nil {
			return fmt.Errorf("at output byte %d: %w", out, err)
		} else {
			sym = s
		}
		if sym < 256 {
			dst[out] = byte(sym)
			out++
			continue
		}
		sym -= 256
		length, offBits := int(sym&15), uint(sym>>4)
		if length == 15 {
			var err error
			if length, err = br.longLength(); err != nil {
				return fmt.Errorf("at output byte %d: %w", out, err)
			}
		}
		length += minMatch
		offset := 1<<offBits | int(br.take(offBits))
		if offset > out {
			return corrupt("at output byte %d: match reaches %d bytes back, before the start of the chunk", out, offset)
		}
		if length > len(dst)-out {
			return corrupt("at output byte %d: match of %d bytes overruns the chunk of %d", out, length, len(dst))
		}
		if offset >= length {
			copy(dst[out:out+length], dst[out-offset:])
		} else {
			for i := out; i < out+length; i++ {
				dst[i] = dst[i-offset]
			}
		}
		out += length
	}
	return nil
}

// build reads the packed code lengths and makes the decoding tables.
func (d *Decoder) build(table []byte) error {
	d.count = [maxLen + 1]uint16{}
	for i, b := range table {
		d.lens[2*i], d.lens[2*i+1] = b&15, b>>4
		d.count[b&15]++
		d.count[b>>4]++
	}
	d.count[0] = 0
	// Kraft: the codes of each length must fit in what the shorter ones
	// leave free. An incomplete code is accepted; its unused patterns are
	// errors when met.
	left := 1
	for l := 1; l <= maxLen; l++ {
		left = left<<1 - int(d.count[l])
		if left < 0 {
			return corrupt("Huffman table over-subscribes %d-bit codewords", l)
		}
	}
	var start [maxLen + 2]uint16
	for l := 1; l <= maxLen; l++ {
		start[l+1] = start[l] + d.count[l]
	}
	for sym, l := range d.lens {
		if l != 0 {
			d.sorted[start[l]] = uint16(sym)
			start[l]++
		}
	}
	d.fast = [1 << fastBits]uint16{}
	code, i := 0, 0
	for l := 1; l <= fastBits; l++ {
		for n := 0; n < int(d.count[l]); n++ {
			entry := d.sorted[i]<<4 | uint16(l)
			first := code << (fastBits - l)
			for j := first; j < first+1<<(fastBits-l); j++ {
				d.fast[j] = entry
			}
			code++
			i++
		}
		code <<= 1
	}
	return nil
}

// slowSymbol decodes a Huffman symbol whose codeword is longer than
// fastBits (or that no codeword matches).
func (d *Decoder) slowSymbol(br *bitReader) (uint16, error) {
	peek := br.peek15()
	// Canonical decoding, one bit at a time: first is the first codeword
	// of length l, index the position of its symbol in sorted.
	code, first, index := 0, 0, 0
	for l := 1; l <= maxLen; l++ {
		code = code<<1 | int(peek>>(maxLen-l))&1
		n := int(d.count[l])
		if code-first < n {
			br.take(uint(l))
			return d.sorted[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
	}
	return 0, corrupt("a bit pattern no Huffman codeword has")
}

// bitReader reads the bit stream of a chunk: 16-bit little-endian words,
// most significant bit first, keeping at least 16 bits ready after every
// take, with whole bytes read at pos, just past the last word loaded. Past
// the end of src it loads zero bits (the stream's last symbols may need
// fewer bits than the look-ahead loads) and leaves pos, where a last odd
// byte may still be read; reading a byte past the end is an error.
type bitReader struct {
	src  []byte
	pos  int
	bits uint32 // left-justified
	n    int    // valid bits in bits
}

func (b *bitReader) refill() {
	var w uint32
	if b.pos+2 <= len(b.src) {
		w = uint32(binary.LittleEndian.Uint16(b.src[b.pos:]))
		b.pos += 2
	}
	b.bits |= w << (16 - b.n)
	b.n += 16
}

func (b *bitReader) peek15() uint32 { return b.bits >> (32 - maxLen) }

// take consumes n (at most 16) bits and returns them.
func (b *bitReader) take(n uint) uint32 {
	if n == 0 {
		return 0
	}
	v := b.bits >> (32 - n)
	b.bits <<= n
	b.n -= int(n)
	if b.n < 16 {
		b.refill()
	}
	return v
}

// longLength reads the length of a match whose length field is 15, less
// minMatch.
func (b *bitReader) longLength() (int, error) {
	if b.pos >= len(b.src) {
		return 0, corrupt("the stream ends inside a match length")
	}
	v := int(b.src[b.pos])
	b.pos++
	if v != 255 {
		return v + 15, nil
	}
	if b.pos+2 > len(b.src) {
		return 0, corrupt("the stream ends inside a match length")
	}
	v = int(binary.LittleEndian.Uint16(b.src[b.pos:]))
	b.pos += 2
	if v == 0 {
		if b.pos+4 > len(b.src) {
			return 0, corrupt("the stream ends inside a match length")
		}
		v = int(min(binary.LittleEndian.Uint32(b.src[b.pos:]), MaxChunk+1))
		b.pos += 4
	}
	if v < 15 {
		return 0, corrupt("a long match length of %d", v)
	}
	return v, nil
}
