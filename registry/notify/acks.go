package notify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/oci"
)

// ackLog is an endpoint's record of deliveries: the sequence numbers of
// the records it received (2xx) or that were dropped for it, 8 bytes each,
// appended. Appends are written but not fsynced each: a process crash
// loses none, a power loss may lose the last ones, and those events are
// delivered again after the restart (at-least-once; the ids stay).
type ackLog struct {
	path string
	f    *os.File
}

// ackPath is the endpoint's ack log; the name is hashed so that any
// endpoint name makes a valid file name.
func ackPath(dir, endpoint string) string {
	h := sha256.Sum256([]byte(endpoint))
	return filepath.Join(dir, "acks-"+hex.EncodeToString(h[:8]))
}

// openAckLog opens (creating) an endpoint's ack log and returns the
// sequence numbers it holds. A torn last entry is ignored.
func openAckLog(dir, endpoint string) (*ackLog, map[uint64]bool, error) {
	p := ackPath(dir, endpoint)
	acked, err := readAcks(p)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	// Cut a torn entry, so that appends stay aligned.
	if err := f.Truncate(int64(len(acked)) * 8); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, nil, err
	}
	set := make(map[uint64]bool, len(acked))
	for _, s := range acked {
		set[s] = true
	}
	return &ackLog{path: p, f: f}, set, nil
}

// readAcks returns the entries of an ack log, none when it does not exist.
func readAcks(p string) ([]uint64, error) {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		seqs = append(seqs, binary.BigEndian.Uint64(b[i:]))
	}
	return seqs, nil
}

// add records seq.
func (a *ackLog) add(seq uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	_, err := a.f.Write(b[:])
	return err
}

// compact rewrites the log without the entries below min, the first
// sequence number the log's segments still hold: those records are gone.
// The new file replaces the old one atomically.
func (a *ackLog) compact(min uint64) error {
	seqs, err := readAcks(a.path)
	if err != nil {
		return err
	}
	var b []byte
	for _, s := range seqs {
		if s >= min {
			b = binary.BigEndian.AppendUint64(b, s)
		}
	}
	if len(b) == len(seqs)*8 {
		return nil
	}
	tmp := a.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", a.path, err)
	}
	a.f.Close()
	a.f = f // at its end, where the next entry goes
	return oci.SyncDir(filepath.Dir(a.path))
}

func (a *ackLog) close() error { return a.f.Close() }
