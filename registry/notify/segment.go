package notify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// The queue's log is a series of segment files, <first seq>.seg, each a
// run of frames:
//
//	4 bytes  payload length n, big-endian
//	4 bytes  CRC-32C of the payload
//	n bytes  payload: the record's sequence number (8 bytes, big-endian)
//	         then the record, JSON (see record)
//
// Frames are only appended, and a group of them is fsynced before their
// requests are answered. A crash can leave a torn frame at the end of the
// last segment: its CRC or length does not hold, and the replay cuts the
// segment there (nobody was answered for it).
const (
	frameHeader = 8
	segSuffix   = ".seg"
	// maxPayload bounds a record: an event with the references of an
	// index as large as a manifest may be (4 MiB) stays below it.
	maxPayload = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is what the log keeps of an event: the endpoints still to
// deliver it to (those whose filters took it) and the event as delivered.
type record struct {
	Repo      string          `json:"repo"`
	Endpoints []string        `json:"endpoints"`
	Event     json.RawMessage `json:"event"`
}

// segment is one file of the log.
type segment struct {
	first uint64 // sequence number of its first record
	path  string
	f     *os.File
	size  int64 // bytes of whole frames
	// live counts the (record, endpoint) pairs not yet delivered or
	// dropped; a segment with none left, and no longer written, is removed.
	live int
}

func segmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, segSuffix))
}

// parseSegmentName returns the first sequence number a segment's file name
// holds.
func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// createSegment makes a new, empty segment and makes its name durable.
func createSegment(dir string, first uint64) (*segment, error) {
	p := segmentPath(dir, first)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := oci.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{first: first, path: p, f: f}, nil
}

// appendFrame appends the frame of record rec numbered seq to buf.
func appendFrame(buf []byte, seq uint64, rec []byte) []byte {
	n := 8 + len(rec)
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = binary.BigEndian.AppendUint32(buf, 0) // CRC, below
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = append(buf, rec...)
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+frameHeader:], castagnoli))
	return buf
}

// errTorn marks a frame that is cut short or does not match its CRC.
var errTorn = errors.New("torn or corrupt frame")

// decodeFrame checks a whole frame and returns its sequence number and
// record.
func decodeFrame(frame []byte) (uint64, []byte, error) {
	if len(frame) < frameHeader+8 {
		return 0, nil, errTorn
	}
	n := binary.BigEndian.Uint32(frame)
	if int(n) != len(frame)-frameHeader || crc32.Checksum(frame[frameHeader:], castagnoli) != binary.BigEndian.Uint32(frame[4:]) {
		return 0, nil, errTorn
	}
	return binary.BigEndian.Uint64(frame[frameHeader:]), frame[frameHeader+8:], nil
}

// readFrame reads the frame of n bytes at off.
func (s *segment) readFrame(off int64, n int) (uint64, []byte, error) {
	frame := make([]byte, n)
	if _, err := s.f.ReadAt(frame, off); err != nil {
		return 0, nil, fmt.Errorf("read %s at %d: %w", s.path, off, err)
	}
	seq, rec, err := decodeFrame(frame)
	if err != nil {
		return 0, nil, fmt.Errorf("%s at %d: %w", s.path, off, err)
	}
	return seq, rec, nil
}

// scan calls fn for every whole frame from the start, in order, and
// returns the offset where whole frames end: the file's size, or where a
// torn frame starts.
func (s *segment) scan(fn func(seq uint64, off int64, n int, rec []byte) error) (int64, error) {
	r := &offsetReader{r: s.f}
	var head [frameHeader]byte
	for {
		off := r.off
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return off, nil
			}
			return off, err
		}
		n := int(binary.BigEndian.Uint32(head[:]))
		if n < 8 || n > maxPayload+8 {
			return off, nil
		}
		frame := make([]byte, frameHeader+n)
		copy(frame, head[:])
		if _, err := io.ReadFull(r, frame[frameHeader:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return off, nil
			}
			return off, err
		}
		seq, rec, err := decodeFrame(frame)
		if err != nil {
			return off, nil
		}
		if err := fn(seq, off, len(frame), rec); err != nil {
			return off, err
		}
	}
}

// offsetReader reads a file from its start with ReadAt, counting.
type offsetReader struct {
	r   io.ReaderAt
	off int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.ReadAt(p, o.off)
	o.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}
