// Package xpress decodes the XPRESS compression of WIM files: the
// "LZ77+Huffman" variant of Microsoft's [MS-XCA], one chunk at a time.
//
// A WIM resource compressed with XPRESS is a table of chunk offsets and
// then its chunks, each compressed on its own (no history is shared between
// chunks) to at most the chunk size of the WIM header (32768 by default,
// never more than 65536). A chunk that would not shrink is stored as is;
// the caller tells the two apart by size and calls Decode only for the
// compressed ones. A compressed chunk is:
//
//   - 256 bytes of code lengths, 4 bits each, for the 512 symbols of one
//     canonical Huffman code (symbol 2i in the low nibble of byte i, 2i+1
//     in the high nibble; 0 means unused, at most 15);
//   - a bit stream of 16-bit little-endian words read from the most
//     significant bit down, with whole bytes (the long match lengths)
//     interleaved at the position just past the words read so far.
//
// A symbol below 256 is a literal byte. Symbol 256+s is a match: the low
// four bits of s are the length less 3, where 15 means "read a byte; 255
// there means read a 16-bit length instead (0 there: a 32-bit one)", and
// the high four bits of s are the number n of offset bits that follow,
// the offset being 1<<n plus them.
//
// Decode never reads or writes outside the slices it is given and
// allocates nothing beyond a fixed decoding table: a code that
// over-subscribes the code space, a bit pattern no symbol has, a match
// reaching before the start of the chunk or past its end, and a stream that
// ends inside a length are errors, never panics.
//
// It imports only the standard library.
package xpress
